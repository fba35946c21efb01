package dataplane

// The XDP program lives in bpf/; bpf2go compiles it and generates the Go
// bindings and types next to this file. `make generate` runs this line.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type mxs_syn_event -type mxs_counters -type mxs_counter -type mxs_action -type mxs_mode mxsensor ../../bpf/mxsensor.c -- -I../../bpf

// Package xdpbench times the sensor's XDP program beside baselines (a
// pass-only program, a minimal SYN->RST reflector, and the reflector with a
// ring record) with BPF_PROG_TEST_RUN, one fresh frame per run.
package xdpbench

// bpf2go compiles bpf/baselines.c; `make generate` runs this line.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel baselines ../../bpf/baselines.c -- -I../../bpf

# Multi-stage build of mxsensor.
#   docker build -t mxsensor .
#   docker run -d --network host --cap-drop ALL \
#     --cap-add BPF --cap-add NET_ADMIN --cap-add PERFMON \
#     -v /sys/fs/bpf:/sys/fs/bpf -v /var/lib/mxsensor:/var/lib/mxsensor \
#     -v /var/log/mail.log:/var/log/mail.log:ro -v /etc/mxsensor:/etc/mxsensor:ro \
#     mxsensor run --config /etc/mxsensor/mxsensor.yaml
# Host networking is required (XDP attaches to the host's NIC); the three
# capabilities are all the sensor needs once bpffs is mounted on the host.
# The store lives in /var/lib/mxsensor (a volume, so restarts resume).

# Optional stage: proves the committed BPF object matches the C source.
#   docker build --target verify .
FROM golang:1.26-bookworm AS verify
RUN apt-get update && apt-get install -y --no-install-recommends clang llvm libbpf-dev git make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cd internal/dataplane && go generate ./... && git diff --exit-code -- .

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/mxsensor ./cmd/mxsensor

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/mxsensor /usr/local/bin/mxsensor
ENTRYPOINT ["/usr/local/bin/mxsensor"]
CMD ["--help"]

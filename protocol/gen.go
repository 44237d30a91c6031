package protocol

// vem.pb.go and vem_grpc.pb.go are generated from vem.proto and committed
// so that `go build` needs no protoc; `make generate` rebuilds them with
// Debian's protoc and the generators pinned as tools in go.mod, and
// TestGeneratedUpToDate proves the committed ones match vem.proto.

//go:generate ./generate.sh

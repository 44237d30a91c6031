package bpf

// The compiled objects (*_bpfel.o) and their Go bindings are committed so
// that `go build` needs no clang; `make generate` rebuilds them and
// TestGeneratedUpToDate proves the committed ones match the sources.
//
// vem_fixture_bpfel.* is the fixture build of the upgrade tests
// (src/fixture/vem.c: a vem_stats value one counter longer), selected
// instead of vem_bpfel.* by -tags vemfixture.

//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -tags "!vemfixture" -type vem_port -type vem_segment -type vem_flood_port -type vem_uplink -type vem_mac_key -type vem_mac_entry -type vem_counters -type vem_config -type vem_addr_key -type vem_port_mac -type vem_storm vem src/vem.c -- -I./src
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -tags vemfixture -output-stem vem_fixture -type vem_port -type vem_segment -type vem_flood_port -type vem_uplink -type vem_mac_key -type vem_mac_entry -type vem_counters -type vem_config -type vem_addr_key -type vem_port_mac -type vem_storm vem src/fixture/vem.c -- -I./src
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type bare_mac baseline src/baseline.c

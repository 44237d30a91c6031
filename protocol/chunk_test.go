package protocol

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestReassemble splits snapshots of several sizes into chunks of several
// sizes and puts them back together, and refuses chunk streams that are
// out of place.
func TestReassemble(t *testing.T) {
	network, _, bindings, macs := bigNetwork(300)
	big, err := NewSnapshot(9, network, bindings, macs)
	if err != nil {
		t.Fatal(err)
	}
	small, _ := NewSnapshot(1, testNetwork(), nil, nil)
	empty := &Snapshot{Generation: 0, NetworkFormat: NetworkFormatJSON}
	for _, snap := range []*Snapshot{big, small, empty} {
		for _, size := range []int{1, 7, 1000, MaxChunkData} {
			if size == 1 && snap == big {
				continue
			}
			chunks, err := splitSnapshot(snap, 3, size)
			if err != nil {
				t.Fatal(err)
			}
			var r reassembler
			var out []byte
			for i, c := range chunks {
				if len(c.GetData()) > size {
					t.Fatalf("chunk of %d bytes, size %d", len(c.GetData()), size)
				}
				out, err = r.add(c)
				if err != nil {
					t.Fatalf("chunk %d of %d: %v", i, len(chunks), err)
				}
				if (out != nil) != (i == len(chunks)-1) {
					t.Fatalf("chunk %d of %d: complete %v", i, len(chunks), out != nil)
				}
			}
			back, err := decodeSnapshot(out, snap.GetGeneration())
			if err != nil || !proto.Equal(back, snap) {
				t.Fatalf("generation %d in chunks of %d: %v", snap.GetGeneration(), size, err)
			}
		}
	}

	chunks, _ := splitSnapshot(small, 4, 100)
	if len(chunks) < 3 {
		t.Fatalf("%d chunks", len(chunks))
	}
	restart, _ := splitSnapshot(small, 5, 100)
	mod := func(c *SnapshotChunk, f func(*SnapshotChunk)) *SnapshotChunk {
		c = proto.Clone(c).(*SnapshotChunk)
		f(c)
		return c
	}
	tests := []struct {
		name   string
		chunks []*SnapshotChunk
		err    error // nil: the last chunk completes the snapshot
	}{
		{"in order", chunks, nil},
		{"a newer snapshot abandons an unfinished one", append([]*SnapshotChunk{chunks[0], chunks[1]}, restart...), nil},
		{"missing first", chunks[1:], ErrMalformed},
		{"repeated chunk", []*SnapshotChunk{chunks[0], chunks[1], chunks[1]}, ErrMalformed},
		{"skipped chunk", []*SnapshotChunk{chunks[0], chunks[2]}, ErrMalformed},
		{"another generation midway", []*SnapshotChunk{chunks[0], mod(chunks[1], func(c *SnapshotChunk) { c.Generation++ })}, ErrMalformed},
		{"another size midway", []*SnapshotChunk{chunks[0], mod(chunks[1], func(c *SnapshotChunk) { c.Size++ })}, ErrMalformed},
		{"flipped byte", append([]*SnapshotChunk{chunks[0], mod(chunks[1], func(c *SnapshotChunk) { c.Data[0] ^= 1 })}, chunks[2:]...), ErrMalformed},
		{"zero chunks", []*SnapshotChunk{mod(chunks[0], func(c *SnapshotChunk) { c.Count = 0 })}, ErrMalformed},
		{"too many chunks", []*SnapshotChunk{mod(chunks[0], func(c *SnapshotChunk) { c.Count = MaxChunks + 1 })}, ErrMalformed},
		{"size beyond the chunks", []*SnapshotChunk{mod(chunks[0], func(c *SnapshotChunk) { c.Size = uint64(c.Count)*MaxChunkData + 1 })}, ErrMalformed},
		{"oversized snapshot", []*SnapshotChunk{mod(chunks[0], func(c *SnapshotChunk) { c.Size, c.Count = MaxSnapshotSize+1, MaxChunks })}, ErrTooLarge},
		{"short digest", []*SnapshotChunk{mod(chunks[0], func(c *SnapshotChunk) { c.Digest = c.Digest[:8] })}, ErrMalformed},
		{"more data than announced", []*SnapshotChunk{mod(chunks[0], func(c *SnapshotChunk) { c.Size = 50 })}, ErrMalformed},
		{"empty chunk", []*SnapshotChunk{chunks[0], mod(chunks[1], func(c *SnapshotChunk) { c.Data = nil })}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r reassembler
			var out []byte
			var err error
			for _, c := range tt.chunks {
				if out, err = r.add(c); err != nil {
					break
				}
			}
			if tt.err == nil {
				if err != nil || out == nil {
					t.Fatalf("got %v, complete %v", err, out != nil)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
			// After an error the reassembler takes a new snapshot.
			for _, c := range restart {
				if out, err = r.add(c); err != nil {
					t.Fatalf("after the error: %v", err)
				}
			}
			if out == nil {
				t.Fatal("after the error: the snapshot is not complete")
			}
		})
	}
}

// TestDecodeSnapshot refuses snapshots whose fields are wrong.
func TestDecodeSnapshot(t *testing.T) {
	good, _ := NewSnapshot(2, testNetwork(), nil, nil)
	tests := []struct {
		name string
		snap *Snapshot
		gen  uint64
		err  error
	}{
		{"good", good, 2, nil},
		{"another generation", good, 3, ErrMalformed},
		{"unknown network format", &Snapshot{Generation: 1, NetworkFormat: 2}, 1, ErrMalformed},
		{"bad MAC", &Snapshot{Generation: 1, NetworkFormat: 1, Macs: []*MacEntry{{Vni: 1, Mac: "x", Vtep: "198.51.100.1"}}}, 1, ErrMalformed},
		{"multicast VTEP", &Snapshot{Generation: 1, NetworkFormat: 1, Macs: []*MacEntry{{Vni: 1, Mac: "52:54:00:00:00:01", Vtep: "224.0.0.1"}}}, 1, ErrMalformed},
		{"bound without vEth", &Snapshot{Generation: 1, NetworkFormat: 1, Bindings: []*PortBinding{{Interface: "tap"}}}, 1, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.snap)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeSnapshot(b, tt.gen); !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
		})
	}
	if _, err := decodeSnapshot([]byte{0xff, 0xff}, 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("not protobuf: %v", err)
	}
}

package protocol

import (
	"bytes"
	"encoding/binary"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vem-switch/vem/spec"
)

// FuzzEnvelope: whatever bytes come off the wire, decoding and checking an
// envelope never panics, and one that passes re-encodes and passes again.
func FuzzEnvelope(f *testing.F) {
	for _, env := range []*Envelope{
		{Domain: 100, Body: &Envelope_Hello{Hello: &Hello{Host: "hv1", Version: CurrentVersion(), Module: 3, Vtep: "198.51.100.1"}}},
		{Domain: 100, Body: &Envelope_Heartbeat{Heartbeat: &Heartbeat{Name: "vsm-a", Role: Role_ROLE_PRIMARY, State: State_STATE_ACTIVE, Seq: 1}}},
		{Domain: 100, Body: &Envelope_PortAttach{PortAttach: &PortAttach{Interface: "tap", Segment: "web", Mac: "52:54:00:00:00:01", Ips: []string{"192.0.2.1"}}}},
		{Domain: 100, Body: &Envelope_MacUpdate{MacUpdate: &MacUpdate{Add: []*MacEntry{{Vni: 5001, Mac: "52:54:00:00:00:02", Vtep: "198.51.100.2"}}}}},
		{Domain: 100, Body: &Envelope_PortBinding{PortBinding: &PortBinding{Interface: "tap", Veth: 1}}},
	} {
		b, err := proto.Marshal(env)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var env Envelope
		if err := proto.Unmarshal(data, &env); err != nil {
			return
		}
		for _, from := range []Kind{KindVEM, KindVSM} {
			if checkEnvelope(&env, env.GetDomain(), from) != nil {
				continue
			}
			b, err := proto.Marshal(&env)
			if err != nil {
				t.Fatalf("re-encode a valid envelope: %v", err)
			}
			var back Envelope
			if err := proto.Unmarshal(b, &back); err != nil {
				t.Fatalf("decode a re-encoded envelope: %v", err)
			}
			if err := checkEnvelope(&back, back.GetDomain(), from); err != nil {
				t.Fatalf("a valid envelope is invalid once re-encoded: %v", err)
			}
		}
	})
}

// FuzzReassemble feeds the reassembler chunk sequences (each chunk a
// length-prefixed SnapshotChunk encoding): it never panics, never holds
// more than MaxSnapshotSize, and what it returns matches its digest.
func FuzzReassemble(f *testing.F) {
	snap, _ := NewSnapshot(5, testNetwork(), nil, []*MacEntry{{Vni: 1, Mac: "52:54:00:00:00:01", Vtep: "198.51.100.2"}})
	for _, size := range []int{16, 100, MaxChunkData} {
		chunks, err := splitSnapshot(snap, 1, size)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(encodeChunks(f, chunks))
		if len(chunks) > 2 {
			chunks[1], chunks[2] = chunks[2], chunks[1]
			f.Add(encodeChunks(f, chunks))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r reassembler
		for len(data) >= 2 {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			if n > len(data) {
				return
			}
			var c SnapshotChunk
			if err := proto.Unmarshal(data[:n], &c); err != nil {
				return
			}
			data = data[n:]
			out, err := r.add(&c)
			if len(r.buf) > MaxSnapshotSize {
				t.Fatalf("reassembler holds %d bytes", len(r.buf))
			}
			if err == nil && out != nil {
				if uint64(len(out)) != c.GetSize() {
					t.Fatalf("returned %d bytes of %d announced", len(out), c.GetSize())
				}
				_, _ = decodeSnapshot(out, c.GetGeneration())
			}
		}
	})
}

// encodeChunks is the FuzzReassemble encoding of chunks.
func encodeChunks(f *testing.F, chunks []*SnapshotChunk) []byte {
	var buf bytes.Buffer
	for _, c := range chunks {
		b, err := proto.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		buf.Write(binary.BigEndian.AppendUint16(nil, uint16(len(b))))
		buf.Write(b)
	}
	return buf.Bytes()
}

// FuzzDecodeNetwork: the strict JSON decoding of a snapshot's network
// never panics, and what it accepts encodes back to something it accepts
// the same way.
func FuzzDecodeNetwork(f *testing.F) {
	good, _ := EncodeNetwork(testNetwork())
	f.Add(good)
	f.Add([]byte(`{"segments":[{"name":"a","type":"vlan","vlan":1}]}`))
	f.Add([]byte(`{"host":"x"}`))
	f.Add([]byte(`{"ports":[{"interface":"t","ips":["192.0.2.1"]}]} {}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sw, err := DecodeNetwork(data)
		if err != nil {
			return
		}
		again, err := EncodeNetwork(sw)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		sw2, err := DecodeNetwork(again)
		if err != nil {
			t.Fatalf("decode re-encoded %s: %v", again, err)
		}
		again2, _ := EncodeNetwork(sw2)
		if !bytes.Equal(again, again2) {
			t.Fatalf("encoding is not canonical:\n%s\n%s", again, again2)
		}
		_ = MergeNetwork(vemFile("hv1"), sw).Validate(spec.ValidateOptions{})
	})
}

// FuzzDecodeSnapshot: decoding a reassembled snapshot never panics.
func FuzzDecodeSnapshot(f *testing.F) {
	snap, _ := NewSnapshot(5, testNetwork(), []*PortBinding{{Interface: "tap", Veth: 1}}, []*MacEntry{{Vni: 1, Mac: "52:54:00:00:00:01", Vtep: "198.51.100.2"}})
	b, _ := proto.Marshal(snap)
	f.Add(b, uint64(5))
	f.Fuzz(func(t *testing.T, data []byte, gen uint64) {
		s, err := decodeSnapshot(data, gen)
		if err != nil {
			return
		}
		if s.GetGeneration() != gen || checkSnapshot(s) != nil {
			t.Fatalf("accepted an invalid snapshot %v", s)
		}
		_, _ = DecodeNetwork(s.GetNetwork())
	})
}

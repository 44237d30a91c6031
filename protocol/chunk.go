package protocol

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"google.golang.org/protobuf/proto"
)

// splitSnapshot serializes s and cuts it into chunks of at most chunkSize
// (at most MaxChunkData) bytes, every one carrying the generation, the
// nonce, the count, the whole size and its SHA-256.
func splitSnapshot(s *Snapshot, nonce uint64, chunkSize int) ([]*SnapshotChunk, error) {
	if chunkSize <= 0 || chunkSize > MaxChunkData {
		chunkSize = MaxChunkData
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	if len(data) > MaxSnapshotSize {
		return nil, fmt.Errorf("%w: snapshot of %d bytes, at most %d", ErrTooLarge, len(data), MaxSnapshotSize)
	}
	sum := sha256.Sum256(data)
	count := max((len(data)+chunkSize-1)/chunkSize, 1)
	if count > MaxChunks {
		return nil, fmt.Errorf("%w: snapshot of %d bytes in %d chunks, at most %d", ErrTooLarge, len(data), count, MaxChunks)
	}
	chunks := make([]*SnapshotChunk, 0, count)
	for i := range count {
		end := min((i+1)*chunkSize, len(data))
		chunks = append(chunks, &SnapshotChunk{
			Generation: s.GetGeneration(),
			Nonce:      nonce,
			Seq:        uint32(i),
			Count:      uint32(count),
			Size:       uint64(len(data)),
			Digest:     sum[:],
			Data:       data[i*chunkSize : end],
		})
	}
	return chunks, nil
}

// reassembler puts the chunks of one snapshot back together. Chunks of one
// snapshot come in order; a first chunk (seq 0) of another nonce abandons
// an unfinished snapshot, as a newer configuration supersedes an older
// one. Anything else out of place is a protocol error. Memory grows with
// the bytes received, never with the size a chunk claims.
type reassembler struct {
	active bool
	first  *SnapshotChunk // seq 0 of the snapshot being assembled
	next   uint32
	buf    []byte
}

// add takes the next chunk and returns the serialized snapshot once its
// last chunk has come and the digest matches, else nil.
func (r *reassembler) add(c *SnapshotChunk) ([]byte, error) {
	if c.GetSeq() == 0 {
		if err := checkFirstChunk(c); err != nil {
			r.reset()
			return nil, err
		}
		r.reset()
		r.active, r.first = true, c
	} else {
		if !r.active {
			return nil, fmt.Errorf("%w: snapshot chunk %d of generation %d without its first chunk", ErrMalformed, c.GetSeq(), c.GetGeneration())
		}
		f := r.first
		if c.GetSeq() != r.next || c.GetGeneration() != f.GetGeneration() || c.GetNonce() != f.GetNonce() ||
			c.GetCount() != f.GetCount() || c.GetSize() != f.GetSize() || !bytes.Equal(c.GetDigest(), f.GetDigest()) {
			r.reset()
			return nil, fmt.Errorf("%w: snapshot chunk %d (generation %d, nonce %d) out of place: expected chunk %d of generation %d, nonce %d",
				ErrMalformed, c.GetSeq(), c.GetGeneration(), c.GetNonce(), r.next, f.GetGeneration(), f.GetNonce())
		}
	}
	last := c.GetSeq() == r.first.GetCount()-1
	if len(c.GetData()) > MaxChunkData {
		r.reset()
		return nil, fmt.Errorf("%w: snapshot chunk of %d bytes, at most %d", ErrTooLarge, len(c.GetData()), MaxChunkData)
	}
	if len(c.GetData()) == 0 && r.first.GetSize() > 0 {
		r.reset()
		return nil, fmt.Errorf("%w: empty snapshot chunk %d", ErrMalformed, c.GetSeq())
	}
	if uint64(len(r.buf))+uint64(len(c.GetData())) > r.first.GetSize() {
		r.reset()
		return nil, fmt.Errorf("%w: snapshot chunks exceed the announced %d bytes", ErrMalformed, c.GetSize())
	}
	r.buf = append(r.buf, c.GetData()...)
	r.next++
	if !last {
		return nil, nil
	}
	data, want := r.buf, r.first.GetDigest()
	size := r.first.GetSize()
	r.reset()
	if uint64(len(data)) != size {
		return nil, fmt.Errorf("%w: snapshot of %d bytes, %d announced", ErrMalformed, len(data), size)
	}
	if sum := sha256.Sum256(data); !bytes.Equal(sum[:], want) {
		return nil, fmt.Errorf("%w: snapshot digest mismatch", ErrMalformed)
	}
	return data, nil
}

// reset drops any unfinished snapshot.
func (r *reassembler) reset() {
	r.active, r.first, r.next, r.buf = false, nil, 0, nil
}

// checkFirstChunk checks what a first chunk announces.
func checkFirstChunk(c *SnapshotChunk) error {
	switch {
	case c.GetCount() == 0 || c.GetCount() > MaxChunks:
		return fmt.Errorf("%w: snapshot in %d chunks, 1..%d", ErrMalformed, c.GetCount(), MaxChunks)
	case c.GetSize() > MaxSnapshotSize:
		return fmt.Errorf("%w: snapshot of %d bytes, at most %d", ErrTooLarge, c.GetSize(), MaxSnapshotSize)
	case c.GetSize() > uint64(c.GetCount())*MaxChunkData:
		return fmt.Errorf("%w: %d bytes cannot come in %d chunks", ErrMalformed, c.GetSize(), c.GetCount())
	case uint64(c.GetCount()) > max(c.GetSize(), 1):
		return fmt.Errorf("%w: %d chunks for %d bytes", ErrMalformed, c.GetCount(), c.GetSize())
	case len(c.GetDigest()) != sha256.Size:
		return fmt.Errorf("%w: snapshot digest of %d bytes, not %d", ErrMalformed, len(c.GetDigest()), sha256.Size)
	}
	return nil
}

// decodeSnapshot unmarshals a reassembled snapshot announced for
// generation gen and checks its fields. Fields this version does not know
// (a neighbouring minor version's) are ignored.
func decodeSnapshot(data []byte, gen uint64) (*Snapshot, error) {
	var s Snapshot
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: decode snapshot: %w", ErrMalformed, err)
	}
	if s.GetGeneration() != gen {
		return nil, fmt.Errorf("%w: snapshot of generation %d announced as %d", ErrMalformed, s.GetGeneration(), gen)
	}
	if err := checkSnapshot(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

//go:build !vemnoconverters

package bpf

// The converters this version carries for layouts other versions pin.
// (Built with -tags vemnoconverters, the agent has none: it stands for a
// version from before them, which the upgrade tests need to refuse.)

func init() {
	// vem_stats values are arrays of __u64 counters (struct vem_counters).
	// A later version appends counters; going back to this one drops
	// them (this version can neither count nor show them) and keeps every
	// counter it knows. Without this converter the downgrade is refused as
	// soon as one appended counter is non-zero.
	RegisterConverter("vem_stats", Converter{
		Name: "drop counters appended by a later version",
		Applies: func(old, new Layout) bool {
			return old.Type == new.Type && old.KeySize == new.KeySize &&
				old.ValueSize > new.ValueSize && old.ValueSize%8 == 0 && new.ValueSize%8 == 0
		},
		Value: func(dst, src []byte) error {
			copy(dst, src)
			return nil
		},
	})
}

package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vem-switch/vem/spec"
)

// NetworkFormatJSON is the Snapshot.network_format of spec.Switch JSON
// holding only segments, profiles and ports: the one this version writes
// and reads.
const NetworkFormatJSON = 1

// EncodeNetwork is the network part of sw (segments, profiles, ports) as
// the canonical JSON a Snapshot carries: encoding/json's output of a
// spec.Switch without host facts, fields in declaration order.
func EncodeNetwork(sw *spec.Switch) ([]byte, error) {
	n := spec.Switch{Segments: sw.Segments, Profiles: sw.Profiles, Ports: sw.Ports}
	b, err := json.Marshal(&n)
	if err != nil {
		return nil, fmt.Errorf("encode network: %w", err)
	}
	return b, nil
}

// DecodeNetwork decodes the network part of a Snapshot strictly: one JSON
// object of at most MaxSnapshotSize bytes, no unknown fields, no trailing
// data and no host facts (host, instance, socket, uplink, vtep,
// portChannels, macAgeing), which belong to the VEM's own file. The result
// is not validated: MergeNetwork and spec's Validate do that with the
// host facts.
func DecodeNetwork(data []byte) (*spec.Switch, error) {
	if len(data) > MaxSnapshotSize {
		return nil, fmt.Errorf("%w: network of %d bytes, at most %d", ErrTooLarge, len(data), MaxSnapshotSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var sw spec.Switch
	if err := dec.Decode(&sw); err != nil {
		return nil, fmt.Errorf("%w: decode network: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: decode network: data after the object", ErrMalformed)
	}
	if facts := hostFacts(&sw); len(facts) > 0 {
		return nil, fmt.Errorf("%w: network sets host facts (%s): a VSM sends only segments, profiles and ports",
			ErrMalformed, strings.Join(facts, ", "))
	}
	return &sw, nil
}

// hostFacts names the host facts sw sets.
func hostFacts(sw *spec.Switch) []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(sw.Host != "", "host")
	add(sw.Instance != "", "instance")
	add(sw.Socket != "", "socket")
	add(sw.Uplink != "", "uplink")
	add(sw.VTEP != nil, "vtep")
	add(sw.PortChannels != nil, "portChannels")
	add(sw.MACAgeing != 0, "macAgeing")
	return out
}

// MergeNetwork is the switch a VEM in VSM mode applies: the host facts of
// host (its own file) with the segments, profiles and ports of network,
// defaults applied. Neither argument is modified.
func MergeNetwork(host, network *spec.Switch) *spec.Switch {
	sw := *host
	if host.VTEP != nil {
		v := *host.VTEP
		sw.VTEP = &v
	}
	sw.PortChannels = append([]spec.PortChannel(nil), host.PortChannels...)
	sw.Segments = append([]spec.Segment(nil), network.Segments...)
	sw.Profiles = append([]spec.Profile(nil), network.Profiles...)
	sw.Ports = append([]spec.Port(nil), network.Ports...)
	sw.ApplyDefaults()
	return &sw
}

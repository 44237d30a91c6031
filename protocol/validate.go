package protocol

import (
	"fmt"
	"net/netip"
	"unicode"

	"github.com/vem-switch/vem/spec"
)

// checkEnvelope checks a message a peer of kind from sent on a session of
// domain: the domain first (a message of another domain is refused
// whatever it holds), then that the body may come from that kind of peer,
// then the body's fields.
func checkEnvelope(env *Envelope, domain uint32, from Kind) error {
	if env.GetDomain() != domain {
		return fmt.Errorf("%w: message of domain %d, this session serves domain %d", ErrDomain, env.GetDomain(), domain)
	}
	if env.GetBody() == nil {
		return fmt.Errorf("%w: envelope without a message", ErrMalformed)
	}
	sender, name := senderOf(env)
	if sender == "" {
		return fmt.Errorf("%w: unknown message", ErrMalformed)
	}
	if sender != from {
		return fmt.Errorf("%w: %s may only come from a %s", ErrMalformed, name, sender)
	}
	if err := checkBody(env); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
	}
	return nil
}

// senderOf is the kind of peer that may send env's message, and its name.
func senderOf(env *Envelope) (Kind, string) {
	switch env.GetBody().(type) {
	case *Envelope_Hello:
		return KindVEM, "hello"
	case *Envelope_AttachRequest:
		return KindVEM, "attach request"
	case *Envelope_Detach:
		return KindVEM, "detach"
	case *Envelope_ConfigAck:
		return KindVEM, "config ack"
	case *Envelope_ConfigNack:
		return KindVEM, "config nack"
	case *Envelope_PortAttach:
		return KindVEM, "port attach"
	case *Envelope_PortDetach:
		return KindVEM, "port detach"
	case *Envelope_Welcome:
		return KindVSM, "welcome"
	case *Envelope_Heartbeat:
		return KindVSM, "heartbeat"
	case *Envelope_SwitchRequest:
		return KindVSM, "switch request"
	case *Envelope_AttachAccepted:
		return KindVSM, "attach accepted"
	case *Envelope_SnapshotChunk:
		return KindVSM, "snapshot chunk"
	case *Envelope_PortBinding:
		return KindVSM, "port binding"
	case *Envelope_MacUpdate:
		return KindVSM, "mac update"
	}
	return "", ""
}

// isControl reports whether env's message goes ahead of bulk work: what
// failure detection, failover and configuration acknowledgement depend
// on, all small. Everything else keeps its order in the bulk queue.
func isControl(env *Envelope) bool {
	switch env.GetBody().(type) {
	case *Envelope_Heartbeat, *Envelope_SwitchRequest, *Envelope_AttachAccepted,
		*Envelope_AttachRequest, *Envelope_ConfigAck, *Envelope_ConfigNack:
		return true
	}
	return false
}

// checkBody checks the fields of env's message.
func checkBody(env *Envelope) error {
	switch b := env.GetBody().(type) {
	case *Envelope_Hello:
		m := b.Hello
		if err := checkName("host", m.GetHost(), true); err != nil {
			return err
		}
		if m.GetVersion() == nil {
			return fmt.Errorf("no version")
		}
		if m.GetModule() != 0 {
			if err := checkModule(m.GetModule()); err != nil {
				return err
			}
		}
		if m.GetVtep() != "" {
			return checkIPv4("vtep", m.GetVtep())
		}
	case *Envelope_Welcome:
		if err := checkName("name", b.Welcome.GetName(), true); err != nil {
			return err
		}
		if b.Welcome.GetVersion() == nil {
			return fmt.Errorf("no version")
		}
		return checkRole(b.Welcome.GetRole())
	case *Envelope_Heartbeat:
		m := b.Heartbeat
		if err := checkName("name", m.GetName(), true); err != nil {
			return err
		}
		if err := checkRole(m.GetRole()); err != nil {
			return err
		}
		if _, ok := State_name[int32(m.GetState())]; !ok || m.GetState() == State_STATE_UNSPECIFIED {
			return fmt.Errorf("state %d is not active or standby", m.GetState())
		}
	case *Envelope_SwitchRequest:
		return checkName("name", b.SwitchRequest.GetName(), true)
	case *Envelope_AttachRequest:
		r := b.AttachRequest.GetReason()
		if _, ok := AttachReason_name[int32(r)]; !ok || r == AttachReason_ATTACH_REASON_UNSPECIFIED {
			return fmt.Errorf("unknown attach reason %d", r)
		}
	case *Envelope_AttachAccepted:
		if err := checkModule(b.AttachAccepted.GetModule()); err != nil {
			return err
		}
		return checkName("name", b.AttachAccepted.GetName(), true)
	case *Envelope_Detach:
		return checkText("reason", b.Detach.GetReason(), false)
	case *Envelope_SnapshotChunk:
		// Checked by the reassembler, which knows the chunks before it.
		if len(b.SnapshotChunk.GetData()) > MaxChunkData {
			return fmt.Errorf("%w: chunk of %d bytes, at most %d", ErrTooLarge, len(b.SnapshotChunk.GetData()), MaxChunkData)
		}
	case *Envelope_ConfigAck:
	case *Envelope_ConfigNack:
		return checkText("reason", b.ConfigNack.GetReason(), true)
	case *Envelope_PortAttach:
		return checkPortAttach(b.PortAttach)
	case *Envelope_PortDetach:
		m := b.PortDetach
		if m.GetId() == "" && m.GetInterface() == "" {
			return fmt.Errorf("names neither an id nor an interface")
		}
		if err := checkName("id", m.GetId(), false); err != nil {
			return err
		}
		return checkName("interface", m.GetInterface(), false)
	case *Envelope_PortBinding:
		return checkBinding(b.PortBinding)
	case *Envelope_MacUpdate:
		m := b.MacUpdate
		if n := len(m.GetAdd()) + len(m.GetRemove()); n > maxMACsPerUpdate {
			return fmt.Errorf("%w: %d entries, at most %d", ErrTooLarge, n, maxMACsPerUpdate)
		}
		for _, l := range [][]*MacEntry{m.GetAdd(), m.GetRemove()} {
			for i, e := range l {
				if err := checkMAC(e); err != nil {
					return fmt.Errorf("entry %d: %w", i, err)
				}
			}
		}
	}
	return nil
}

// maxMACsPerUpdate bounds one MacUpdate so that it fits MaxMessageSize
// with room to spare (an entry is under 64 bytes); SendMACs splits larger
// updates.
const maxMACsPerUpdate = 2048

// checkSnapshot checks the fields of a decoded snapshot; the network part
// is decoded and validated by the session that receives it.
func checkSnapshot(s *Snapshot) error {
	if s.GetNetworkFormat() != NetworkFormatJSON {
		return fmt.Errorf("%w: snapshot network format %d, this version reads %d", ErrMalformed, s.GetNetworkFormat(), NetworkFormatJSON)
	}
	if len(s.GetMacs()) > MaxMACEntries {
		return fmt.Errorf("%w: snapshot of %d MACs, at most %d", ErrTooLarge, len(s.GetMacs()), MaxMACEntries)
	}
	for i, b := range s.GetBindings() {
		if err := checkBinding(b); err != nil {
			return fmt.Errorf("%w: snapshot binding %d: %w", ErrMalformed, i, err)
		}
	}
	for i, e := range s.GetMacs() {
		if err := checkMAC(e); err != nil {
			return fmt.Errorf("%w: snapshot MAC %d: %w", ErrMalformed, i, err)
		}
	}
	return nil
}

// checkPortAttach checks a port attach: an interface, and an id or a
// segment.
func checkPortAttach(m *PortAttach) error {
	if err := checkName("interface", m.GetInterface(), true); err != nil {
		return err
	}
	if m.GetId() == "" && m.GetSegment() == "" {
		return fmt.Errorf("names neither an id nor a segment")
	}
	for _, f := range []struct{ field, v string }{
		{"id", m.GetId()}, {"vm", m.GetVm()}, {"segment", m.GetSegment()}, {"profile", m.GetProfile()},
	} {
		if err := checkName(f.field, f.v, false); err != nil {
			return err
		}
	}
	if m.GetMac() != "" {
		if _, err := spec.ParseMAC(m.GetMac()); err != nil {
			return fmt.Errorf("mac: %w", err)
		}
	}
	if len(m.GetIps()) > MaxPortIPs {
		return fmt.Errorf("%d addresses, at most %d", len(m.GetIps()), MaxPortIPs)
	}
	for i, ip := range m.GetIps() {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("ips[%d]: %w", i, err)
		}
	}
	return nil
}

// checkBinding checks a binding: refused with a reason, or a vEth number.
func checkBinding(b *PortBinding) error {
	if b.GetId() == "" && b.GetInterface() == "" {
		return fmt.Errorf("names neither an id nor an interface")
	}
	for _, f := range []struct{ field, v string }{
		{"id", b.GetId()}, {"interface", b.GetInterface()}, {"dynamicProfile", b.GetDynamicProfile()},
		{"segment", b.GetSegment()}, {"profile", b.GetProfile()},
	} {
		if err := checkName(f.field, f.v, false); err != nil {
			return err
		}
	}
	if err := checkText("refused", b.GetRefused(), false); err != nil {
		return err
	}
	if b.GetRefused() == "" && b.GetVeth() == 0 {
		return fmt.Errorf("bound without a vEth number")
	}
	if b.GetMac() != "" {
		if _, err := spec.ParseMAC(b.GetMac()); err != nil {
			return fmt.Errorf("mac: %w", err)
		}
	}
	return nil
}

// checkMAC checks a MAC distribution entry.
func checkMAC(e *MacEntry) error {
	if e.GetVni() == 0 || e.GetVni() > spec.MaxVNI {
		return fmt.Errorf("vni %d outside 1..%d", e.GetVni(), spec.MaxVNI)
	}
	if _, err := spec.ParseMAC(e.GetMac()); err != nil {
		return fmt.Errorf("mac: %w", err)
	}
	return checkIPv4("vtep", e.GetVtep())
}

// checkModule checks a VEM's module number.
func checkModule(m uint32) error {
	if m < MinModule || m > MaxModule {
		return fmt.Errorf("module %d outside %d..%d (the VSMs are 1 and 2)", m, MinModule, MaxModule)
	}
	return nil
}

// checkRole checks a VSM role.
func checkRole(r Role) error {
	if _, ok := Role_name[int32(r)]; !ok || r == Role_ROLE_UNSPECIFIED {
		return fmt.Errorf("role %d is not standalone, primary or secondary", r)
	}
	return nil
}

// checkIPv4 checks a unicast IPv4 address.
func checkIPv4(field, s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || a.IsUnspecified() || a.IsMulticast() || a == netip.IPv4Unspecified() {
		return fmt.Errorf("%s %q is not a unicast IPv4 address", field, s)
	}
	return nil
}

// checkName checks an identifier: at most MaxNameLen printable characters
// without spaces, and present when required.
func checkName(field, s string, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("%s required", field)
		}
		return nil
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%s of %d bytes, at most %d", field, len(s), MaxNameLen)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%s %q holds a space or an unprintable character", field, s)
		}
	}
	return nil
}

// checkText checks free text: at most MaxReasonLen bytes without control
// characters.
func checkText(field, s string, required bool) error {
	if s == "" && required {
		return fmt.Errorf("%s required", field)
	}
	if len(s) > MaxReasonLen {
		return fmt.Errorf("%s of %d bytes, at most %d", field, len(s), MaxReasonLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return fmt.Errorf("%s holds a control character", field)
		}
	}
	return nil
}

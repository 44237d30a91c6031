package protocol

import "github.com/vem-switch/vem/spec"

// Event is a message a session delivers to its application. A VEM's
// session (VSMSession) delivers *Heartbeat, *SwitchRequest,
// *AttachAccepted, *Config, *PortBinding and *MacUpdate; a VSM's
// (VEMSession) delivers *AttachRequest, *Detach, *ConfigAck, *ConfigNack,
// *PortAttach and *PortDetach.
type Event interface{ isEvent() }

func (*Heartbeat) isEvent()      {}
func (*SwitchRequest) isEvent()  {}
func (*AttachAccepted) isEvent() {}
func (*PortBinding) isEvent()    {}
func (*MacUpdate) isEvent()      {}
func (*AttachRequest) isEvent()  {}
func (*Detach) isEvent()         {}
func (*ConfigAck) isEvent()      {}
func (*ConfigNack) isEvent()     {}
func (*PortAttach) isEvent()     {}
func (*PortDetach) isEvent()     {}
func (*Config) isEvent()         {}

// Config is a configuration a VEM received, reassembled and validated:
// the VSM's network merged with the VEM's host facts. Acknowledge it with
// VSMSession.Ack once applied, or refuse it with Nack.
type Config struct {
	// Generation and Nonce name the snapshot; Ack and Nack echo them.
	Generation uint64
	Nonce      uint64
	// Switch is the whole desired state: host facts from the VEM's file,
	// segments, profiles and ports from the VSM, defaults applied and
	// validated.
	Switch *spec.Switch
	// Bindings are the VEM's bound ports (vEth numbers, dynamic profiles).
	Bindings []*PortBinding
	// MACs are the remote MACs of the VEM's bridge domains.
	MACs []*MacEntry
	// Size is the serialized snapshot's length in bytes.
	Size int
}

// eventOf is the event an envelope's message is, or nil for messages a
// session handles itself (hello, welcome, snapshot chunks).
func eventOf(env *Envelope) Event {
	switch b := env.GetBody().(type) {
	case *Envelope_Heartbeat:
		return b.Heartbeat
	case *Envelope_SwitchRequest:
		return b.SwitchRequest
	case *Envelope_AttachAccepted:
		return b.AttachAccepted
	case *Envelope_PortBinding:
		return b.PortBinding
	case *Envelope_MacUpdate:
		return b.MacUpdate
	case *Envelope_AttachRequest:
		return b.AttachRequest
	case *Envelope_Detach:
		return b.Detach
	case *Envelope_ConfigAck:
		return b.ConfigAck
	case *Envelope_ConfigNack:
		return b.ConfigNack
	case *Envelope_PortAttach:
		return b.PortAttach
	case *Envelope_PortDetach:
		return b.PortDetach
	}
	return nil
}

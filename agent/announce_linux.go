package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// socketTx is the real announceTx: an AF_PACKET socket for frames out of
// an uplink member, a UDP socket bound to the local VTEP address for
// VXLAN. Both are opened on first use, in the agent's network namespace,
// and used by the announcer's one goroutine only.
type socketTx struct {
	fd     int // the packet socket; -1 until opened
	udp    *net.UDPConn
	udpSrc netip.Addr
}

func newSocketTx() *socketTx { return &socketTx{fd: -1} }

// SendFrame implements announceTx.
func (s *socketTx) SendFrame(ifindex int, f []byte) error {
	if len(f) < 14 {
		return fmt.Errorf("send frame: %d bytes is no Ethernet frame", len(f))
	}
	if s.fd < 0 {
		// Protocol 0: the socket receives nothing, it only sends.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open packet socket: %w", err)
		}
		s.fd = fd
	}
	sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6,
		Protocol: htons(binary.BigEndian.Uint16(f[12:14]))}
	copy(sa.Addr[:], f[:6])
	if err := unix.Sendto(s.fd, f, 0, sa); err != nil {
		return fmt.Errorf("send frame on ifindex %d: %w", ifindex, err)
	}
	return nil
}

// SendUDP implements announceTx.
func (s *socketTx) SendUDP(src netip.Addr, dst netip.AddrPort, payload []byte) error {
	if s.udp != nil && s.udpSrc != src {
		s.udp.Close()
		s.udp = nil
	}
	if s.udp == nil {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: src.AsSlice()})
		if err != nil {
			return fmt.Errorf("open UDP socket on VTEP %s: %w", src, err)
		}
		s.udp, s.udpSrc = c, src
	}
	if _, err := s.udp.WriteToUDPAddrPort(payload, dst); err != nil {
		return fmt.Errorf("send VXLAN to %s: %w", dst, err)
	}
	return nil
}

// Close implements announceTx.
func (s *socketTx) Close() error {
	var errs []error
	if s.fd >= 0 {
		errs = append(errs, unix.Close(s.fd))
		s.fd = -1
	}
	if s.udp != nil {
		errs = append(errs, s.udp.Close())
		s.udp = nil
	}
	return errors.Join(errs...)
}

// htons converts a 16-bit value to network byte order, as sockaddr_ll
// wants its protocol.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

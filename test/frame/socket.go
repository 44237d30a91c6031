package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/vem-switch/vem/test/topo"
	"golang.org/x/sys/unix"
)

// auxdataLen is sizeof(struct tpacket_auxdata).
const auxdataLen = int(unsafe.Sizeof(unix.TpacketAuxdata{}))

// maxFrame bounds a received frame; veth with GSO can hand up 64 KiB.
const maxFrame = 1 << 16

// Socket is an AF_PACKET raw socket bound to one interface in a namespace. It
// sees every frame sent and received there, with the VLAN tag the kernel
// strips reported from PACKET_AUXDATA.
type Socket struct {
	name string // netns/ifname, for errors
	f    *os.File
	rc   syscall.RawConn

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Open opens a raw socket on ifname inside ns, receiving every EtherType.
// The socket belongs to the namespace for its life. It is also closed at the
// topology's Close so that it cannot keep the namespace alive.
func Open(ns *topo.NS, ifname string) (*Socket, error) {
	name := ns.Name() + "/" + ifname
	idx, err := ns.LinkIndex(ifname)
	if err != nil {
		return nil, err
	}
	var fd int
	err = ns.Do(func() error {
		// Protocol 0 receives nothing until bind, so no frame from another
		// interface is queued before the socket is bound.
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("frame: packet socket in %s: %w", ns.Name(), err)
	}
	if err := setup(fd, idx); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("frame: packet socket on %s: %w", name, err)
	}
	// A non-blocking fd joins the runtime poller, which gives deadlines and
	// a Close that safely wakes a blocked Recv.
	f := os.NewFile(uintptr(fd), "packet:"+name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("frame: packet socket on %s: %w", name, err)
	}
	s := &Socket{name: name, f: f, rc: rc}
	ns.Topology().Cleanup(func() { s.Close() })
	return s, nil
}

// setup enables auxdata and binds fd to ifindex for all protocols.
func setup(fd, ifindex int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fmt.Errorf("enable PACKET_AUXDATA: %w", err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind to ifindex %d: %w", ifindex, err)
	}
	return nil
}

// Send transmits frame, which must start with the Ethernet header, on the
// interface as is. A frame from VLAN is sent with its tag in the data.
func (s *Socket) Send(frame []byte) error {
	if _, err := s.f.Write(frame); err != nil {
		return fmt.Errorf("frame: send on %s: %w", s.name, err)
	}
	return nil
}

// Recv returns the next frame seen on the interface, sent or received,
// waiting up to timeout. Frames sent on this socket are not among them (the
// kernel does not loop them back to their sender), but those sent by the
// stack or by another socket on the interface are, marked Outgoing. On timeout the error matches
// os.ErrDeadlineExceeded.
func (s *Socket) Recv(timeout time.Duration) (Frame, error) {
	if err := s.f.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return Frame{}, fmt.Errorf("frame: recv on %s: %w", s.name, err)
	}
	buf := make([]byte, maxFrame)
	oob := make([]byte, unix.CmsgSpace(auxdataLen))
	var (
		n, oobn int
		from    unix.Sockaddr
		rerr    error
	)
	err := s.rc.Read(func(fd uintptr) bool {
		n, oobn, _, from, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		if s.closed.Load() {
			// RawConn reports the poller's own "use of closed file".
			err = os.ErrClosed
		}
		return Frame{}, fmt.Errorf("frame: recv on %s: %w", s.name, err)
	}
	f := Frame{Data: buf[:n:n]}
	if ll, ok := from.(*unix.SockaddrLinklayer); ok {
		f.Outgoing = ll.Pkttype == unix.PACKET_OUTGOING
	}
	if err := parseAuxdata(oob[:oobn], &f); err != nil {
		return Frame{}, fmt.Errorf("frame: recv on %s: %w", s.name, err)
	}
	return f, nil
}

// parseAuxdata fills in f's VLAN fields from a PACKET_AUXDATA control
// message, if there is one with a valid tag.
func parseAuxdata(oob []byte, f *Frame) error {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return fmt.Errorf("parse control messages: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA {
			continue
		}
		if len(m.Data) < auxdataLen {
			return fmt.Errorf("short auxdata: %d bytes", len(m.Data))
		}
		// struct tpacket_auxdata, in host byte order.
		status := binary.NativeEndian.Uint32(m.Data[0:4])
		if status&unix.TP_STATUS_VLAN_VALID == 0 {
			return nil
		}
		f.Tagged = true
		f.TCI = binary.NativeEndian.Uint16(m.Data[16:18])
		f.VLAN = f.TCI & 0x0fff
		if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			f.TPID = binary.NativeEndian.Uint16(m.Data[18:20])
		}
	}
	return nil
}

// Collect receives for d and returns the frames for which match returns
// true, or every frame if match is nil. It stops early only if the socket
// fails or is closed.
func (s *Socket) Collect(d time.Duration, match func(Frame) bool) []Frame {
	var got []Frame
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return got
		}
		f, err := s.Recv(left)
		if err != nil {
			return got
		}
		if match == nil || match(f) {
			got = append(got, f)
		}
	}
}

// Close closes the socket, waking a blocked Recv, which then returns an
// error matching os.ErrClosed. Later calls return nil.
func (s *Socket) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if err := s.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			s.closeErr = fmt.Errorf("frame: close %s: %w", s.name, err)
		}
	})
	return s.closeErr
}

// htons converts a 16-bit value to network byte order, as sockaddr_ll wants
// its protocol.
func htons(v uint16) uint16 {
	return v<<8 | v>>8
}

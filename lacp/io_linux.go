package lacp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is an AF_PACKET socket on one interface that receives and sends
// slow-protocol frames (EtherType 0x8809). It joins the slow-protocols
// multicast group so that frames to 01:80:c2:00:00:02 arrive without
// promiscuous mode. It is created in the network namespace of the calling
// thread. Read and Write may be called concurrently; Close unblocks a
// pending Read.
type Conn struct {
	name    string
	ifindex int
	mac     MAC
	f       *os.File
	rc      syscall.RawConn
}

// Listen opens a Conn on the interface ifname.
func Listen(ifname string) (*Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("lacp: listen on %s: %w", ifname, err)
	}
	c, err := listen(ifi)
	if err != nil {
		return nil, fmt.Errorf("lacp: listen on %s: %w", ifname, err)
	}
	return c, nil
}

func listen(ifi *net.Interface) (*Conn, error) {
	var mac MAC
	if len(ifi.HardwareAddr) != len(mac) {
		return nil, fmt.Errorf("not an Ethernet interface (address %q)", ifi.HardwareAddr)
	}
	copy(mac[:], ifi.HardwareAddr)
	// Protocol 0 receives nothing until bind picks the EtherType and the
	// interface, so no frame of another interface slips in meanwhile.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := setup(fd, ifi.Index); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// A non-blocking descriptor joins the runtime poller, which lets
	// Close interrupt a pending Read.
	f := os.NewFile(uintptr(fd), "lacp-"+ifi.Name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("raw conn: %w", err)
	}
	return &Conn{name: ifi.Name, ifindex: ifi.Index, mac: mac, f: f, rc: rc}, nil
}

func setup(fd, ifindex int) error {
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(EtherType), Ifindex: ifindex}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	dst := SlowProtocolsMAC()
	copy(mreq.Address[:], dst[:])
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fmt.Errorf("join %s: %w", dst, err)
	}
	// Our own transmissions would otherwise be looped back to us. Read
	// also drops them, for kernels before 4.20 that lack the option.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	return nil
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// Name returns the interface name.
func (c *Conn) Name() string { return c.name }

// Ifindex returns the interface index the socket is bound to.
func (c *Conn) Ifindex() int { return c.ifindex }

// MAC returns the interface address, the source of the frames Write sends.
func (c *Conn) MAC() MAC { return c.mac }

// ReadFrame reads the next slow-protocol frame received on the interface
// into b, returning its length; frames longer than b are truncated. Frames the
// host sent are skipped.
func (c *Conn) ReadFrame(b []byte) (int, error) {
	// Each pass consumes one frame; only our own outgoing ones loop.
	for {
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := c.rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), b, 0)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			return 0, fmt.Errorf("lacp: read on %s: %w", c.name, err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		return n, nil
	}
}

// Write sends payload (a marshalled LACPDU or Marker PDU) in a frame from
// the interface address to the slow-protocols multicast address.
func (c *Conn) Write(payload []byte) error {
	frame := AppendFrame(make([]byte, 0, HeaderLen+len(payload)), c.mac, payload)
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		werr = unix.Sendto(int(fd), frame, 0, &unix.SockaddrLinklayer{
			Ifindex:  c.ifindex,
			Protocol: htons(EtherType),
		})
		return !errors.Is(werr, unix.EAGAIN)
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("lacp: write on %s: %w", c.name, err)
	}
	return nil
}

// SetReadDeadline makes a pending and future ReadFrame fail with
// os.ErrDeadlineExceeded after t; the zero time means no deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// Close closes the socket.
func (c *Conn) Close() error { return c.f.Close() }

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vem-switch/vem/test/topo"
	"golang.org/x/sys/unix"
)

// The measured stream: UDP datagrams from vm1 to vm2:streamPort, one per
// streamInterval, each carrying streamMagic, the run it belongs to and a
// sequence number. A packet socket on hv2 sees each one arrive on e1 or
// e2 (before vem's tcx ingress: packet taps run first) and a UDP socket in
// vm2 receives it; both take the kernel's receive timestamp
// (SO_TIMESTAMPNS, CLOCK_REALTIME), so the times compare with the wall
// clock the link-down command is timed by.
const (
	streamPort     = 7001
	streamInterval = time.Millisecond
	payloadLen     = 16 // magic, run, seq
)

var streamMagic = []byte("vem-pcfo")

// arrival is one stream datagram seen by a timestamped socket.
type arrival struct {
	run, seq uint32
	ifindex  int // the interface it arrived on (packet socket); 0 for the UDP receiver
	at       time.Time
}

// tsSocket is a socket whose datagrams carry the kernel's receive
// timestamp. recv hands out its arrivals; the goroutine run starts reads
// until stop.
type tsSocket struct {
	fd     int
	packet bool // AF_PACKET: frames start with the Ethernet header

	mu       sync.Mutex
	arrivals []arrival
	done     chan struct{}
	stop     atomic.Bool
	err      error
	closed   sync.Once
}

// openCapture opens an AF_PACKET socket in ns that sees the frames every
// interface there receives.
func openCapture(ns *topo.NS) (*tsSocket, error) {
	var fd int
	err := ns.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("packet socket in %s: %w", ns, err)
	}
	return startTS(fd, true, ns.String())
}

// openReceiver opens the stream's UDP socket at addr:streamPort in ns.
func openReceiver(ns *topo.NS, addr string) (*tsSocket, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	fd, err := udpSocket(ns, func(fd int) error {
		return unix.Bind(fd, &unix.SockaddrInet4{Port: streamPort, Addr: a.As4()})
	})
	if err != nil {
		return nil, fmt.Errorf("UDP receiver %s:%d in %s: %w", addr, streamPort, ns, err)
	}
	return startTS(fd, false, ns.String())
}

// udpSocket opens a UDP socket in ns and prepares it with setup (bind,
// connect); it closes the socket if setup fails.
func udpSocket(ns *topo.NS, setup func(fd int) error) (int, error) {
	var fd int
	err := ns.Do(func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := setup(fd); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	})
	return fd, err
}

func startTS(fd int, packet bool, where string) (*tsSocket, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("SO_TIMESTAMPNS in %s: %w", where, err)
	}
	s := &tsSocket{fd: fd, packet: packet, done: make(chan struct{})}
	go s.run()
	return s, nil
}

// run reads datagrams until close, polling so that it sees stop.
func (s *tsSocket) run() {
	defer close(s.done)
	buf := make([]byte, 2048)
	oob := make([]byte, unix.CmsgSpace(16))
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	for !s.stop.Load() {
		n, err := unix.Poll(fds, 20)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil {
			s.err = fmt.Errorf("poll: %w", err)
			return
		}
		for {
			n, oobn, _, from, err := unix.Recvmsg(s.fd, buf, oob, unix.MSG_DONTWAIT)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				break
			}
			if err != nil {
				s.err = fmt.Errorf("recvmsg: %w", err)
				return
			}
			a, ok := s.parse(buf[:n], from)
			if !ok {
				continue
			}
			if a.at, err = rxTimestamp(oob[:oobn]); err != nil {
				s.err = err
				return
			}
			s.mu.Lock()
			s.arrivals = append(s.arrivals, a)
			s.mu.Unlock()
		}
	}
}

// parse recognises a stream datagram: the UDP payload, or for the packet
// socket a received (not sent) Ethernet frame, 802.1Q-tagged in its data
// or not, holding IPv4, UDP to streamPort and the payload.
func (s *tsSocket) parse(b []byte, from unix.Sockaddr) (arrival, bool) {
	var a arrival
	if s.packet {
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING || len(b) < 14 {
			return a, false
		}
		a.ifindex = ll.Ifindex
		proto, l3 := binary.BigEndian.Uint16(b[12:]), b[14:]
		if proto == 0x8100 && len(l3) >= 4 {
			proto, l3 = binary.BigEndian.Uint16(l3[2:]), l3[4:]
		}
		if proto != 0x0800 || len(l3) < 20 || l3[9] != 17 {
			return a, false
		}
		ihl := int(l3[0]&0x0f) * 4
		if len(l3) < ihl+8 || binary.BigEndian.Uint16(l3[ihl+2:]) != streamPort {
			return a, false
		}
		b = l3[ihl+8:]
	}
	if len(b) < payloadLen || !bytes.Equal(b[:len(streamMagic)], streamMagic) {
		return a, false
	}
	a.run = binary.BigEndian.Uint32(b[8:])
	a.seq = binary.BigEndian.Uint32(b[12:])
	return a, true
}

// rxTimestamp returns the SCM_TIMESTAMPNS time of a received datagram.
func rxTimestamp(oob []byte) (time.Time, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, fmt.Errorf("control messages: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:]))
			return time.Unix(sec, nsec), nil
		}
	}
	return time.Time{}, errors.New("datagram without a receive timestamp")
}

// of returns the arrivals of run so far.
func (s *tsSocket) of(run uint32) []arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []arrival
	for _, a := range s.arrivals {
		if a.run == run {
			out = append(out, a)
		}
	}
	return out
}

// close stops the reader and closes the socket; it returns the reader's
// error, if it failed. Later calls only return that error.
func (s *tsSocket) close() error {
	s.closed.Do(func() {
		s.stop.Store(true)
		<-s.done
		unix.Close(s.fd)
	})
	return s.err
}

// sender sends the stream from one source port of vm1.
type sender struct {
	fd   int
	sent atomic.Uint32 // the last sequence number sent
}

// openSender opens a UDP socket in ns bound to sport and connected to
// dst:streamPort.
func openSender(ns *topo.NS, sport int, dst string) (*sender, error) {
	a, err := netip.ParseAddr(dst)
	if err != nil {
		return nil, err
	}
	fd, err := udpSocket(ns, func(fd int) error {
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: sport}); err != nil {
			return err
		}
		return unix.Connect(fd, &unix.SockaddrInet4{Port: streamPort, Addr: a.As4()})
	})
	if err != nil {
		return nil, fmt.Errorf("UDP sender from port %d in %s: %w", sport, ns, err)
	}
	return &sender{fd: fd}, nil
}

// send sends datagram seq of run.
func (s *sender) send(run, seq uint32) error {
	b := make([]byte, payloadLen)
	copy(b, streamMagic)
	binary.BigEndian.PutUint32(b[8:], run)
	binary.BigEndian.PutUint32(b[12:], seq)
	_, err := unix.Write(s.fd, b)
	return err
}

// stream sends datagrams 1..max of run, one every streamInterval on an
// absolute schedule (clock_nanosleep on a locked thread: Go's timers can
// oversleep by a millisecond), until max or stop is closed. It returns
// the send errors (a datagram the stack refused is not a datagram lost by
// the switch).
func (s *sender) stream(run, max uint32, stop <-chan struct{}) (sendErrors int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var start unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &start); err != nil {
		panic(err) // CLOCK_MONOTONIC always exists
	}
	t0 := time.Duration(unix.TimespecToNsec(start))
	for seq := uint32(1); seq <= max; seq++ {
		select {
		case <-stop:
			return sendErrors
		default:
		}
		next := unix.NsecToTimespec(int64(t0 + time.Duration(seq)*streamInterval))
		for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &next, nil) == unix.EINTR {
		}
		if s.send(run, seq) != nil {
			sendErrors++
		}
		s.sent.Store(seq)
	}
	return sendErrors
}

func (s *sender) close() { unix.Close(s.fd) }

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

package linkwatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// getlinkLen is the size of one RTM_GETLINK request: header, ifinfomsg and
// an IFLA_EXT_MASK attribute.
const getlinkLen = unix.SizeofNlMsghdr + unix.SizeofIfInfomsg + unix.SizeofRtAttr + 4

// query asks the kernel for the flags of the links, one RTM_GETLINK each,
// all in one sendto. rtnetlink answers synchronously inside it, so the
// answers are queued when it returns and the reads do not wait.
func (e *netlinkEdge) query(indexes []int, out []flags) ([]flags, error) {
	e.pollMu.Lock()
	defer e.pollMu.Unlock()
	if e.pollFd < 0 {
		fd, err := pollSocket(e.ns)
		if err != nil {
			return out, err
		}
		e.pollFd = fd
	}
	out, err := e.exchange(indexes, out)
	if err != nil {
		// Answers may still be queued: start again on a fresh socket.
		unix.Close(e.pollFd)
		e.pollFd = -1
	}
	return out, err
}

func (e *netlinkEdge) exchange(indexes []int, out []flags) ([]flags, error) {
	ne := binary.NativeEndian
	base := e.pollSeq + 1
	e.pollSeq += uint32(len(indexes))
	e.req = e.req[:0]
	for i, idx := range indexes {
		var m [getlinkLen]byte
		ne.PutUint32(m[0:], getlinkLen)
		ne.PutUint16(m[4:], unix.RTM_GETLINK)
		ne.PutUint16(m[6:], unix.NLM_F_REQUEST)
		ne.PutUint32(m[8:], base+uint32(i))
		// ifinfomsg: family AF_UNSPEC, index; the rest zero.
		ne.PutUint32(m[unix.SizeofNlMsghdr+4:], uint32(int32(idx)))
		a := m[unix.SizeofNlMsghdr+unix.SizeofIfInfomsg:]
		ne.PutUint16(a[0:], unix.SizeofRtAttr+4)
		ne.PutUint16(a[2:], unix.IFLA_EXT_MASK)
		ne.PutUint32(a[4:], rtextFilterSkipStats)
		e.req = append(e.req, m[:]...)
	}
	if _, err := unix.Write(e.pollFd, e.req); err != nil {
		return out, fmt.Errorf("send RTM_GETLINK: %w", err)
	}
	first := len(out)
	for _, idx := range indexes {
		out = append(out, flags{index: idx, gone: true})
	}
	answered := 0
	var qerr error
	for answered < len(indexes) {
		n, err := unix.Read(e.pollFd, e.rbuf)
		if err != nil {
			return out[:first], fmt.Errorf("read RTM_GETLINK answer: %w", err)
		}
		for b := e.rbuf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(ne.Uint32(b[0:]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return out[:first], fmt.Errorf("malformed netlink message (%d of %d bytes)", l, len(b))
			}
			typ, seq, data := ne.Uint16(b[4:]), ne.Uint32(b[8:]), b[unix.SizeofNlMsghdr:l]
			b = b[min(nlAlign(l), len(b)):]
			if seq-base >= uint32(len(indexes)) {
				continue // an answer to an earlier poll
			}
			f := &out[first+int(seq-base)]
			switch {
			case typ == unix.NLMSG_ERROR && len(data) >= 4:
				errno := syscall.Errno(-int32(ne.Uint32(data)))
				if errno != unix.ENODEV && qerr == nil {
					qerr = fmt.Errorf("RTM_GETLINK %d: %w", f.index, errno)
				}
			case typ == unix.RTM_NEWLINK && len(data) >= unix.SizeofIfInfomsg:
				fl := ne.Uint32(data[8:])
				f.gone, f.adminUp, f.carrier = false, fl&unix.IFF_UP != 0, fl&unix.IFF_LOWER_UP != 0
			default:
				continue
			}
			answered++
		}
	}
	if qerr != nil {
		return out[:first], qerr
	}
	return out, nil
}

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// pollSocket opens a blocking NETLINK_ROUTE socket in ns, connected to the
// kernel. Reads time out after a second, should an answer never come.
func pollSocket(ns netns.NsHandle) (int, error) {
	fd := -1
	err := inNamespace(ns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("poll socket: %w", err)
	}
	kernel := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	tv := unix.Timeval{Sec: 1}
	for _, step := range []func() error{
		func() error { return unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}) },
		func() error { return unix.Connect(fd, kernel) },
		func() error { return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv) },
	} {
		if err := step(); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("poll socket: %w", err)
		}
	}
	return fd, nil
}

// inNamespace runs fn on a thread in ns. Sockets fn opens stay in ns. A
// thread that cannot be moved back is left locked, so that it ends with its
// goroutine instead of serving others in the wrong namespace.
func inNamespace(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		err = fn()
		if rerr := netns.Set(orig); rerr != nil {
			errc <- errors.Join(err, fmt.Errorf("restore network namespace: %w", rerr))
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

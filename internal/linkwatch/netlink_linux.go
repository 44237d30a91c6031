package linkwatch

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// rtextFilterSkipStats is RTEXT_FILTER_SKIP_STATS (linux/rtnetlink.h):
// answers leave out the link statistics, most of their size.
const rtextFilterSkipStats = 1 << 3

// subscriptionBuffer is the receive buffer asked for the subscription
// socket, so that a burst of notifications (taps of many VMs at once) does
// not overflow it; only what is queued uses memory.
const subscriptionBuffer = 4 << 20

// errDumpInterrupted means the links changed while the kernel dumped them,
// so the dump may be inconsistent.
var errDumpInterrupted = errors.New("link dump interrupted by a change")

// netlinkEdge is the edge to the kernel in one network namespace.
type netlinkEdge struct {
	ns     netns.NsHandle
	rcvbuf int // the subscription socket's receive buffer

	// The poll socket, opened on first use and reopened after a failure;
	// used by one poll at a time.
	pollMu  sync.Mutex
	pollFd  int
	pollSeq uint32
	req     []byte
	rbuf    []byte
}

// openNetlink opens the namespace at path, or the calling thread's.
func openNetlink(path string) (*netlinkEdge, error) {
	var (
		h   netns.NsHandle
		err error
	)
	if path != "" {
		h, err = netns.GetFromPath(path)
	} else {
		runtime.LockOSThread()
		h, err = netns.Get()
		runtime.UnlockOSThread()
	}
	if err != nil {
		return nil, fmt.Errorf("linkwatch: open network namespace %q: %w", path, err)
	}
	return &netlinkEdge{ns: h, rcvbuf: subscriptionBuffer, pollFd: -1, rbuf: make([]byte, 64<<10)}, nil
}

func (e *netlinkEdge) close() {
	e.pollMu.Lock()
	defer e.pollMu.Unlock()
	if e.pollFd >= 0 {
		unix.Close(e.pollFd)
		e.pollFd = -1
	}
	e.ns.Close()
}

// subscribe joins RTNLGRP_LINK in the namespace and asks for a dump on
// the same socket, so that the dump and the notifications arrive in the
// order the kernel produced them.
func (e *netlinkEdge) subscribe() (stream, error) {
	s, err := nl.SubscribeAt(e.ns, netns.None(), unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := s.SetReceiveBufferSize(e.rcvbuf, true); err != nil {
		// Without CAP_NET_ADMIN: as much as net.core.rmem_max allows.
		if err := s.SetReceiveBufferSize(e.rcvbuf, false); err != nil {
			s.Close()
			return nil, fmt.Errorf("receive buffer: %w", err)
		}
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterSkipStats)))
	if err := s.Send(req); err != nil {
		s.Close()
		return nil, fmt.Errorf("request link dump: %w", err)
	}
	return &netlinkStream{s: s, dumpSeq: req.Seq}, nil
}

// netlinkStream is a subscription socket.
type netlinkStream struct {
	s       *nl.NetlinkSocket
	dumpSeq uint32
	once    sync.Once
}

func (st *netlinkStream) close() { st.once.Do(st.s.Close) }

func (st *netlinkStream) receive() ([]message, error) {
	msgs, from, err := st.s.Receive()
	if err != nil {
		// ENOBUFS: the kernel dropped notifications.
		return nil, fmt.Errorf("receive: %w", err)
	}
	if from.Pid != nl.PidKernel {
		return nil, nil
	}
	var out []message
	for _, m := range msgs {
		if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
			return nil, errDumpInterrupted
		}
		switch m.Header.Type {
		case unix.NLMSG_DONE:
			if m.Header.Seq == st.dumpSeq {
				out = append(out, message{kind: msgDumpDone})
			}
		case unix.NLMSG_ERROR:
			if len(m.Data) >= 4 {
				if errno := -int32(nl.NativeEndian().Uint32(m.Data[:4])); errno != 0 {
					return nil, fmt.Errorf("netlink error: %w", syscall.Errno(errno))
				}
			}
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			msg, ok, err := parseLink(m)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, msg)
			}
		}
	}
	return out, nil
}

// parseLink reads an RTM_NEWLINK or RTM_DELLINK. Those of family AF_BRIDGE
// describe bridge ports, not links (an RTM_DELLINK of that family is a
// port leaving its bridge): ok is false for them.
func parseLink(m syscall.NetlinkMessage) (message, bool, error) {
	if len(m.Data) < unix.SizeofIfInfomsg {
		return message{}, false, fmt.Errorf("short link message (%d bytes)", len(m.Data))
	}
	ifi := nl.DeserializeIfInfomsg(m.Data)
	if ifi.Family != unix.AF_UNSPEC {
		return message{}, false, nil
	}
	hdr := unix.NlMsghdr(m.Header)
	l, err := netlink.LinkDeserialize(&hdr, m.Data)
	if err != nil {
		return message{}, false, fmt.Errorf("parse link %d: %w", ifi.Index, err)
	}
	a := l.Attrs()
	link := Link{
		Index:        a.Index,
		Name:         a.Name,
		Kind:         l.Type(),
		MasterIndex:  a.MasterIndex,
		MTU:          a.MTU,
		HardwareAddr: a.HardwareAddr,
		PeerNetNSID:  a.NetNsID,
		AdminUp:      a.Flags&net.FlagUp != 0,
		Carrier:      a.RawFlags&unix.IFF_LOWER_UP != 0,
	}
	if m.Header.Type == unix.RTM_DELLINK {
		return message{kind: msgGone, link: link}, true, nil
	}
	return message{kind: msgLink, link: link}, true, nil
}

package linkwatch

// edge is the netlink side of a Watcher; tests substitute a fake.
type edge interface {
	// subscribe opens a subscription to link notifications that starts
	// with a dump of every link, ended by a msgDumpDone.
	subscribe() (stream, error)
	// query reads the admin and carrier flags of the links with these
	// indexes, appending one answer per index to out. An index the kernel
	// no longer knows is answered with gone.
	query(indexes []int, out []flags) ([]flags, error)
	// close releases what the edge holds; subscribe and query are not
	// called after it.
	close()
}

// stream is one subscription.
type stream interface {
	// receive blocks for the next messages; an error ends the stream.
	receive() ([]message, error)
	// close ends the stream, making a blocked receive return. It may be
	// called more than once and concurrently with receive.
	close()
}

// msgKind classifies a message.
type msgKind uint8

const (
	// msgLink: a link exists in this state (dump entry or RTM_NEWLINK).
	msgLink msgKind = iota + 1
	// msgGone: a link was deleted (RTM_DELLINK); Link.Index says which.
	msgGone
	// msgDumpDone: the dump that opened the stream is complete.
	msgDumpDone
)

// message is one thing a stream reports.
type message struct {
	kind msgKind
	link Link
}

// flags is a polled link's answer.
type flags struct {
	index            int
	adminUp, carrier bool
	gone             bool
}

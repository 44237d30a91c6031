package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/vem-switch/vem/spec"
)

// maxResponseBody bounds what the client reads of one answer; a MAC table
// of a million entries is well under it.
const maxResponseBody = 256 << 20

// Client talks to an agent's API on its unix socket. It implements
// Backend, so whatever takes a Backend can also run against a remote agent.
type Client struct {
	socket string
	http   *http.Client
}

var _ Backend = (*Client)(nil)

// NewClient returns a client for the agent serving on socketPath. Calls
// are bounded by their context only.
func NewClient(socketPath string) *Client {
	c := &Client{socket: socketPath}
	c.http = &http.Client{Transport: &http.Transport{
		// No Proxy: HTTP_PROXY in the environment must not divert a
		// request meant for the local socket.
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.dial(ctx)
		},
	}}
	return c
}

// Status returns the agent's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &st)
	return st, err
}

// DPA returns the Data Path Agent's state.
func (c *Client) DPA(ctx context.Context) (DPA, error) {
	var d DPA
	err := c.do(ctx, http.MethodGet, "/v1/dpa", nil, nil, &d)
	return d, err
}

// Ports lists the agent's ports.
func (c *Client) Ports(ctx context.Context) ([]Port, error) {
	var ps []Port
	err := c.do(ctx, http.MethodGet, "/v1/ports", nil, nil, &ps)
	return ps, err
}

// MACTable lists learned MACs of segment, or of all segments when it is "".
func (c *Client) MACTable(ctx context.Context, segment string) ([]MACEntry, error) {
	var es []MACEntry
	err := c.do(ctx, http.MethodGet, "/v1/mac-table", filter("segment", segment), nil, &es)
	return es, err
}

// Segments lists the agent's segments.
func (c *Client) Segments(ctx context.Context) ([]Segment, error) {
	var ss []Segment
	err := c.do(ctx, http.MethodGet, "/v1/segments", nil, nil, &ss)
	return ss, err
}

// VTEPs returns the local VTEP and the remote ones.
func (c *Client) VTEPs(ctx context.Context) (VTEPs, error) {
	var v VTEPs
	err := c.do(ctx, http.MethodGet, "/v1/vxlan/vteps", nil, nil, &v)
	return v, err
}

// BridgeDomains lists the agent's VXLAN bridge domains.
func (c *Client) BridgeDomains(ctx context.Context) ([]BridgeDomain, error) {
	var bds []BridgeDomain
	err := c.do(ctx, http.MethodGet, "/v1/bridge-domains", nil, nil, &bds)
	return bds, err
}

// PortChannels lists the agent's port-channels and their members.
func (c *Client) PortChannels(ctx context.Context) ([]PortChannel, error) {
	var pcs []PortChannel
	err := c.do(ctx, http.MethodGet, "/v1/port-channels", nil, nil, &pcs)
	return pcs, err
}

// LACPNeighbors lists the LACP partner seen on every port-channel member.
func (c *Client) LACPNeighbors(ctx context.Context) ([]LACPNeighbor, error) {
	var ns []LACPNeighbor
	err := c.do(ctx, http.MethodGet, "/v1/lacp/neighbors", nil, nil, &ns)
	return ns, err
}

// LACPCounters lists every port-channel member's LACP packet counters.
func (c *Client) LACPCounters(ctx context.Context) ([]LACPCounters, error) {
	var cs []LACPCounters
	err := c.do(ctx, http.MethodGet, "/v1/lacp/counters", nil, nil, &cs)
	return cs, err
}

// Counters returns the counters of port, or of every port when it is "".
func (c *Client) Counters(ctx context.Context, port string) ([]Counters, error) {
	var cs []Counters
	err := c.do(ctx, http.MethodGet, "/v1/counters", filter("port", port), nil, &cs)
	return cs, err
}

// PortSecurity returns the port-security state of the vEth port (an
// interface or a Vethernet name), or of every vEth when it is "".
func (c *Client) PortSecurity(ctx context.Context, port string) ([]PortSecurity, error) {
	path := "/v1/port-security"
	if port != "" {
		if strings.Contains(port, "/") || port == "." || port == ".." {
			// Not a path segment, nor any port's name.
			return nil, fmt.Errorf("port security of port %s: no such vEth: %w", port, ErrNotFound)
		}
		path += "/" + port // do escapes it
	}
	var ps []PortSecurity
	err := c.do(ctx, http.MethodGet, path, nil, nil, &ps)
	return ps, err
}

// Attach adds the vEth port p.
func (c *Client) Attach(ctx context.Context, p spec.Port) error {
	return c.do(ctx, http.MethodPost, "/v1/ports", nil, NewAttachRequest(p), nil)
}

// Detach removes the port on interface iface.
func (c *Client) Detach(ctx context.Context, iface string) error {
	if iface == "" {
		return fmt.Errorf("%w: detach: no interface given", ErrInvalid)
	}
	return c.do(ctx, http.MethodDelete, "/v1/ports/"+url.PathEscape(iface), nil, nil, nil)
}

func filter(key, value string) url.Values {
	if value == "" {
		return nil
	}
	return url.Values{key: {value}}
}

// do sends a request with the JSON of in (when not nil) and decodes the
// answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	// The host is a placeholder: the transport always dials the socket.
	u := url.URL{Scheme: "http", Host: "vem-agent", Path: path, RawQuery: q.Encode()}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// A failed dial says all there is to say; the URL would only
		// confuse, as its host is a placeholder.
		var de *dialError
		if errors.As(err, &de) {
			return de.err
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s on %s: %w", method, path, c.socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return responseError(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// responseError turns an error answer into an *Error with the agent's
// message, or, if the body is not the API's error JSON (something else
// on the socket), with the status and the start of the body.
func responseError(resp *http.Response, data []byte) error {
	var eb errorBody
	if err := json.Unmarshal(data, &eb); err == nil && eb.Error != "" {
		return &Error{Status: resp.StatusCode, Message: eb.Error}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = "no error message"
	}
	return &Error{Status: resp.StatusCode, Message: fmt.Sprintf("agent answered %s: %s", resp.Status, msg)}
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, &dialError{err: c.dialErr(err)}
	}
	return conn, nil
}

// dialError carries a dial's error through the http.Client to do.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// dialErr explains why dialling the socket failed.
func (c *Client) dialErr(err error) error {
	// Report the syscall's error alone: the dial's own text would repeat
	// the path already in the message.
	cause := err
	var se *os.SyscallError
	if errors.As(err, &se) {
		cause = se
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &notRunningError{what: "no socket at " + c.socket, cause: cause}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &notRunningError{what: "nothing is listening on " + c.socket, cause: cause}
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("cannot connect to vem-agent on %s (needs root or the socket's group): %w", c.socket, cause)
	}
	return fmt.Errorf("connect to vem-agent on %s: %w", c.socket, err)
}

// notRunningError says that no agent serves on the client's socket.
type notRunningError struct {
	what  string
	cause error
}

func (e *notRunningError) Error() string {
	return fmt.Sprintf("%v (%s): %v", ErrNotRunning, e.what, e.cause)
}

func (e *notRunningError) Unwrap() []error { return []error{ErrNotRunning, e.cause} }

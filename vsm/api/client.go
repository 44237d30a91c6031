package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/store"
)

// Error is an error response: its status and body. errors.Is matches it
// to the store's sentinel of its status (ErrNotFound for 404,
// ErrConflict for 409, ErrReadOnly for 405, ErrCompacted for 410), on
// either side of the connection.
type Error struct {
	Status     int
	Message    string
	Problems   []Problem
	Generation uint64
}

// Error returns the message and the problems, one per line.
func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return e.Message
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = spec.Problem{Line: p.Line, Field: p.Field, Msg: p.Message}.String()
	}
	return strings.Join(lines, "\n")
}

// Is matches the store's sentinel error of e's status.
func (e *Error) Is(target error) bool {
	switch e.Status {
	case http.StatusNotFound:
		return target == store.ErrNotFound
	case http.StatusConflict:
		return target == store.ErrConflict
	case http.StatusMethodNotAllowed:
		return target == store.ErrReadOnly
	case http.StatusGone:
		return target == store.ErrCompacted
	}
	return false
}

// ErrNotRunning marks a client that found no VSM at its address.
var ErrNotRunning = errors.New("the VSM is not running")

// Client talks to a VSM's northbound API.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client of the API at addr (host:port).
func NewClient(addr string) *Client {
	return &Client{base: "http://" + addr, http: &http.Client{}}
}

// Status returns the VSM's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var out Status
	return out, c.do(ctx, http.MethodGet, "/v1/status", "", nil, &out)
}

// Modules returns show module: the VSM and its VEMs.
func (c *Client) Modules(ctx context.Context) (ModulesResponse, error) {
	var out ModulesResponse
	return out, c.do(ctx, http.MethodGet, "/v1/modules", "", nil, &out)
}

// Network returns the VSM's network definition.
func (c *Client) Network(ctx context.Context) (NetworkResponse, error) {
	var out NetworkResponse
	return out, c.do(ctx, http.MethodGet, "/v1/network", "", nil, &out)
}

// Apply sends a network definition to create or replace its objects.
// YAML is sent as written, so the VSM's problems name its lines.
func (c *Client) Apply(ctx context.Context, def []byte, f netdef.Format) (store.Result, error) {
	var out store.Result
	return out, c.do(ctx, http.MethodPost, "/v1/apply", contentType(f), def, &out)
}

// Sync sends the whole network definition (a full sync).
func (c *Client) Sync(ctx context.Context, def []byte, f netdef.Format, opts store.SyncOptions) (store.Result, error) {
	path := "/v1/sync"
	if opts.DryRun {
		path += "?dryRun=true"
	}
	var out store.Result
	return out, c.do(ctx, http.MethodPut, path, contentType(f), def, &out)
}

// Segments lists the segments.
func (c *Client) Segments(ctx context.Context) (SegmentsResponse, error) {
	var out SegmentsResponse
	return out, c.do(ctx, http.MethodGet, "/v1/segments", "", nil, &out)
}

// Profiles lists the policy profiles.
func (c *Client) Profiles(ctx context.Context) (ProfilesResponse, error) {
	var out ProfilesResponse
	return out, c.do(ctx, http.MethodGet, "/v1/profiles", "", nil, &out)
}

// Ports lists the pre-created and bound ports.
func (c *Client) Ports(ctx context.Context) (PortsResponse, error) {
	var out PortsResponse
	return out, c.do(ctx, http.MethodGet, "/v1/ports", "", nil, &out)
}

// PortProfiles lists the dynamic port profiles.
func (c *Client) PortProfiles(ctx context.Context) (PortProfilesResponse, error) {
	var out PortProfilesResponse
	return out, c.do(ctx, http.MethodGet, "/v1/port-profiles", "", nil, &out)
}

// BridgeDomains lists the bridge domains of vxlan segments.
func (c *Client) BridgeDomains(ctx context.Context) (BridgeDomainsResponse, error) {
	var out BridgeDomainsResponse
	return out, c.do(ctx, http.MethodGet, "/v1/bridge-domains", "", nil, &out)
}

// Changes returns the change log after generation since.
func (c *Client) Changes(ctx context.Context, since uint64) (ChangesResponse, error) {
	var out ChangesResponse
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/changes?since=%d", since), "", nil, &out)
}

// Put creates or replaces one segment, profile or pre-created port (v is
// a spec.Segment, spec.Profile or netdef.Port) under name.
func (c *Client) Put(ctx context.Context, kind store.Kind, name string, v any) (store.Result, error) {
	return c.send(ctx, http.MethodPut, kind, name, v)
}

// Create creates one segment, profile or pre-created port.
func (c *Client) Create(ctx context.Context, kind store.Kind, v any) (store.Result, error) {
	return c.send(ctx, http.MethodPost, kind, "", v)
}

// Delete deletes one segment, profile or pre-created port.
func (c *Client) Delete(ctx context.Context, kind store.Kind, name string) (store.Result, error) {
	return c.send(ctx, http.MethodDelete, kind, name, nil)
}

func (c *Client) send(ctx context.Context, method string, kind store.Kind, name string, v any) (store.Result, error) {
	path, err := collection(kind)
	if err != nil {
		return store.Result{}, err
	}
	if name != "" {
		path += "/" + url.PathEscape(name)
	}
	var body []byte
	if v != nil {
		if body, err = json.Marshal(v); err != nil {
			return store.Result{}, fmt.Errorf("encode %s: %w", kind, err)
		}
	}
	var out store.Result
	return out, c.do(ctx, method, path, "application/json", body, &out)
}

func collection(kind store.Kind) (string, error) {
	switch kind {
	case store.KindSegment:
		return "/v1/segments", nil
	case store.KindProfile:
		return "/v1/profiles", nil
	case store.KindPort:
		return "/v1/ports", nil
	case store.KindPortProfile:
		return "/v1/port-profiles", nil
	}
	return "", fmt.Errorf("no API collection of %q", kind)
}

func contentType(f netdef.Format) string {
	if f == netdef.JSON {
		return "application/json"
	}
	return "application/yaml"
}

// do sends one request and decodes its answer into out, or its error.
func (c *Client) do(ctx context.Context, method, path, ctype string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == nil && isRefused(err) {
			return fmt.Errorf("%w at %s: %w", ErrNotRunning, c.base, err)
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb ErrorBody
		if err := json.Unmarshal(data, &eb); err != nil || eb.Error == "" {
			return &Error{Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: %s", method, path, resp.Status)}
		}
		return &Error{Status: resp.StatusCode, Message: eb.Error, Problems: eb.Problems, Generation: eb.Generation}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

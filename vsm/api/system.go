package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
)

func (s *Server) redundancy(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	if s.info.Redundancy == nil {
		return nil, &Error{Status: http.StatusNotFound, Message: "this VSM has no redundancy status"}
	}
	return s.info.Redundancy(), nil
}

func (s *Server) switchover(r *http.Request) (any, error) {
	if s.info.Switchover == nil {
		return nil, &Error{Status: http.StatusConflict, Message: ha.ErrStandbyNotReady.Error()}
	}
	if err := s.info.Switchover(); err != nil {
		return nil, &Error{Status: http.StatusConflict, Message: err.Error()}
	}
	return SwitchoverResponse{Message: "switchover started: the standby takes over"}, nil
}

func (s *Server) setRole(r *http.Request) (any, error) {
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var req RoleRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("invalid request: %v", err)}
	}
	switch req.Role {
	case config.RoleStandalone, config.RolePrimary, config.RoleSecondary:
	default:
		return nil, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("invalid role %q: want primary, secondary or standalone", req.Role)}
	}
	if s.info.SetRole == nil {
		return nil, &Error{Status: http.StatusConflict, Message: "this VSM cannot change its role"}
	}
	return s.info.SetRole(req.Role)
}

// RedundancyStatus returns `show system redundancy status`.
func (c *Client) RedundancyStatus(ctx context.Context) (ha.Status, error) {
	var out ha.Status
	return out, c.do(ctx, http.MethodGet, "/v1/system/redundancy", "", nil, &out)
}

// Switchover starts a manual switchover.
func (c *Client) Switchover(ctx context.Context) (SwitchoverResponse, error) {
	var out SwitchoverResponse
	return out, c.do(ctx, http.MethodPost, "/v1/system/switchover", "", nil, &out)
}

// SetRole records the VSM's redundancy role.
func (c *Client) SetRole(ctx context.Context, role config.Role) (RoleResponse, error) {
	body, err := json.Marshal(RoleRequest{Role: role})
	if err != nil {
		return RoleResponse{}, err
	}
	var out RoleResponse
	return out, c.do(ctx, http.MethodPut, "/v1/system/redundancy/role", "application/json", body, &out)
}

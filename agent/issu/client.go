package issu

import (
	"context"

	"github.com/vem-switch/vem/agent/api"
)

// AgentAt is the agent serving on socket, reached through its API.
func AgentAt(socket string) Agent { return clientAgent{api.NewClient(socket)} }

// clientAgent adapts an *api.Client to Agent.
type clientAgent struct{ *api.Client }

func (c clientAgent) OpenHandover(ctx context.Context) (Session, error) {
	s, err := c.Client.OpenHandover(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

package issu

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/vem-switch/vem/agent/api"
)

// Baseline is what the running agent had before the switch, which the
// successor's health is judged against.
type Baseline struct {
	// PID is the old agent's process.
	PID int
	// Bundled are the LACP members bundled before, with their partner
	// ("system key"), by "portChannel/interface".
	Bundled map[string]string
	// VSM is whether the agent follows a VSM (its DPA must be attached).
	VSM bool
}

// baseline reads the running agent's baseline.
func baseline(ctx context.Context, a Agent) (Baseline, error) {
	b := Baseline{Bundled: map[string]string{}}
	ho, err := a.Handover(ctx)
	if err != nil {
		return b, fmt.Errorf("the running agent cannot hand over: %w", err)
	}
	if ho.State != "" && ho.State != "idle" {
		return b, fmt.Errorf("the running agent (PID %d) is in a handover already (%s)", ho.PID, ho.State)
	}
	b.PID = ho.PID
	st, err := a.Status(ctx)
	if err != nil {
		return b, err
	}
	if st.Engine.State != api.EngineCurrent {
		return b, fmt.Errorf("the running agent's engine is %s, not current: fix that first", st.Engine.State)
	}
	ns, err := a.LACPNeighbors(ctx)
	if err != nil {
		return b, err
	}
	for _, n := range ns {
		if n.State == "bundled" {
			b.Bundled[n.PortChannel+"/"+n.Interface] = partnerOf(n)
		}
	}
	d, err := a.DPA(ctx)
	if err != nil {
		return b, err
	}
	b.VSM = d.Mode == "vsm"
	return b, nil
}

func partnerOf(n api.LACPNeighbor) string {
	return fmt.Sprintf("%s key %d", n.PartnerSystem, n.PartnerKey)
}

// health reads the successor (pid) and returns why it is not healthy,
// "" when it is: its process serving the socket, its engine current,
// every member bundled before still bundled with the same partner, the
// DPA attached when the agent follows a VSM.
func health(ctx context.Context, a Agent, b Baseline, pid int) (string, error) {
	ho, err := a.Handover(ctx)
	if err != nil {
		return "", err
	}
	if ho.PID != pid {
		return fmt.Sprintf("PID %d serves the socket, not the successor %d", ho.PID, pid), nil
	}
	st, err := a.Status(ctx)
	if err != nil {
		return "", err
	}
	var why []string
	if st.Engine.State != api.EngineCurrent {
		why = append(why, fmt.Sprintf("engine %s (%s)", st.Engine.State, st.Engine.Error))
	}
	if len(b.Bundled) > 0 {
		ns, err := a.LACPNeighbors(ctx)
		if err != nil {
			return "", err
		}
		now := map[string]api.LACPNeighbor{}
		for _, n := range ns {
			now[n.PortChannel+"/"+n.Interface] = n
		}
		var members []string
		for m := range b.Bundled {
			members = append(members, m)
		}
		sort.Strings(members)
		for _, m := range members {
			n, ok := now[m]
			switch {
			case !ok:
				why = append(why, m+" gone")
			case n.State != "bundled":
				why = append(why, fmt.Sprintf("%s %s", m, n.State))
			case partnerOf(n) != b.Bundled[m]:
				why = append(why, fmt.Sprintf("%s partner %s, was %s", m, partnerOf(n), b.Bundled[m]))
			}
		}
	}
	if b.VSM {
		d, err := a.DPA(ctx)
		if err != nil {
			return "", err
		}
		if d.State != "attached" {
			why = append(why, "DPA "+d.State)
		}
	}
	return strings.Join(why, "; "), nil
}

package ha

import (
	"time"

	"github.com/vem-switch/vem/vsm/config"
)

// Facts are what split-brain resolution compares of each active VSM.
type Facts struct {
	// Name and Role identify the VSM (the final tie-breaks).
	Name string
	Role config.Role
	// Modules is the number of modules attached to it.
	Modules int
	// LastConfig is the time of its last configuration change.
	LastConfig time.Time
	// LastSwitch is when it last became active.
	LastSwitch time.Time
}

// Rule names the precedence rule that decided a split brain.
type Rule string

// The rules, in order of precedence.
const (
	RuleModules    Rule = "module count"
	RuleLastConfig Rule = "last configuration time"
	RuleLastSwitch Rule = "last standby-active switch"
	RuleRole       Rule = "role"
	RuleName       Rule = "name"
	RuleNone       Rule = "identical"
)

// SplitBrainLoser reports whether a, rather than b, restarts when both
// are active, and by which rule. In order: fewer attached modules
// restarts; then the older last configuration; then the more recent last
// switch to active (the longer active wins); then the secondary yields;
// then the greater name. It is antisymmetric — SplitBrainLoser(a, b) and
// SplitBrainLoser(b, a) pick the same VSM — so both sides of a pair reach
// the same choice; only identical facts (RuleNone) make both restart.
func SplitBrainLoser(a, b Facts) (aLoses bool, rule Rule) {
	switch {
	case a.Modules != b.Modules:
		return a.Modules < b.Modules, RuleModules
	case !a.LastConfig.Equal(b.LastConfig):
		return a.LastConfig.Before(b.LastConfig), RuleLastConfig
	case !a.LastSwitch.Equal(b.LastSwitch):
		return a.LastSwitch.After(b.LastSwitch), RuleLastSwitch
	case a.Role != b.Role && (a.Role == config.RoleSecondary || b.Role == config.RoleSecondary):
		return a.Role == config.RoleSecondary, RuleRole
	case a.Name != b.Name:
		return a.Name > b.Name, RuleName
	}
	return true, RuleNone
}

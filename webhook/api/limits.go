package api

import (
	"sync"
	"time"
)

// Failed sign-ins allowed before the console slows down: per address and
// name, five, then one a minute (someone guessing one person's password);
// per address, twenty, then four a minute (someone trying many names).
// People behind one proxy share an address. Each replica counts its own.
var signInRates = [2]struct {
	burst int
	every time.Duration
}{{5, time.Minute}, {20, 15 * time.Second}}

// signInLimits counts failed sign-ins per key as a "generic cell rate":
// due is when a key's allowance is whole again; each attempt moves it on
// by every, and an attempt is refused while due lies more than
// (burst-1)*every ahead.
type signInLimits struct {
	mu  sync.Mutex
	due map[string]time.Time
}

func signInKeys(client, name string) [2]string {
	return [2]string{"name\x00" + client + "\x00" + name, "addr\x00" + client}
}

// take counts an attempt, or, when a limit is reached, counts nothing and
// returns how long to wait.
func (l *signInLimits) take(client, name string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.due == nil {
		l.due = map[string]time.Time{}
	}
	keys := signInKeys(client, name)
	var wait time.Duration
	for i, k := range keys {
		ahead := later(l.due[k], now).Sub(now) - time.Duration(signInRates[i].burst-1)*signInRates[i].every
		wait = max(wait, ahead)
	}
	if wait > 0 {
		return wait
	}
	for i, k := range keys {
		l.due[k] = later(l.due[k], now).Add(signInRates[i].every)
	}
	if len(l.due) > 10000 { // forget the keys whose allowance is whole
		for k, t := range l.due {
			if !t.After(now) {
				delete(l.due, k)
			}
		}
	}
	return 0
}

// refund gives back an attempt that succeeded.
func (l *signInLimits) refund(client, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, k := range signInKeys(client, name) {
		if t, ok := l.due[k]; ok {
			l.due[k] = t.Add(-signInRates[i].every)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

package collector

import "github.com/jackc/pgx/v5"

var (
	walReceiverUpDesc   = newDesc("standby_wal_receiver_up", "On a standby: whether the WAL receiver is streaming and has heard from its upstream within wal_receiver_timeout.")
	replayPausedDesc    = newDesc("standby_replay_paused", "On a standby: whether WAL replay is paused (pg_wal_replay_pause).")
	receivePositionDesc = newDesc("standby_receive_position_bytes", "On a standby: last WAL position received and flushed (pg_last_wal_receive_lsn), in bytes.")
	replayPositionDesc  = newDesc("standby_replay_position_bytes", "On a standby: last WAL position replayed (pg_last_wal_replay_lsn), in bytes.")
	replayPendingDesc   = newDesc("standby_replay_pending_bytes", "On a standby: WAL received but not yet replayed, in bytes.")
	lastReplayDesc      = newDesc("standby_last_replay_timestamp_seconds", "On a standby: commit time of the last replayed transaction (pg_last_xact_replay_timestamp).")
	lastMessageDesc     = newDesc("standby_last_message_received_timestamp_seconds", "On a standby: when the WAL receiver last heard from its upstream.")
	standbyLagDesc      = newDesc("standby_lag_seconds", "On a standby: how far behind its primary it is, in seconds. 0 while it has replayed everything the primary reported (an idle primary gives 0, not a growing age); otherwise the time since it was last seen caught up or since its last replayed commit, whichever is newer, so paused replay and a stalled or disconnected receiver both show a growing lag.")
)

// standbyConcern reports a standby's receiver, replay and lag.
//
// The usual lag, now() - pg_last_xact_replay_timestamp(), grows without
// bound on an idle primary (no commits to replay). The usual fix, "0 when
// receive and replay positions are equal", hides a receiver that stopped
// receiving. Here a standby counts as caught up only when its receiver is
// streaming, has heard from upstream within wal_receiver_timeout, and has
// replayed up to the WAL end the primary last reported (latest_end_lsn).
// While caught up the lag is 0; otherwise it is the time since it was last
// seen caught up (remembered between scrapes) or since the last replayed
// commit, whichever is newer.
type standbyConcern struct {
	caughtUpAsOf float64 // server time of the last scrape that saw it caught up
}

func (*standbyConcern) name() string { return "standby" }

func (*standbyConcern) statement() (string, []any) { return "", nil }

func (k *standbyConcern) collect(s *scrape, _ pgx.Rows) error {
	st := s.status
	if !st.inRecovery {
		k.caughtUpAsOf = 0
		return nil
	}
	receiverUp := st.receiverStatus != nil && *st.receiverStatus == "streaming"
	if receiverUp && st.walReceiverTimeout > 0 && st.lastMsgReceiptTime != nil &&
		st.now-*st.lastMsgReceiptTime > st.walReceiverTimeout {
		receiverUp = false // connected on paper, silent in fact
	}
	replay := zeroIfNil(st.replayLSN)
	receive := zeroIfNil(st.receiveLSN)
	upstreamEnd := max(receive, zeroIfNil(st.latestEndLSN))

	gauge(s.ch, walReceiverUpDesc, boolf(receiverUp))
	gauge(s.ch, replayPausedDesc, boolf(st.replayPaused))
	gauge(s.ch, receivePositionDesc, receive)
	gauge(s.ch, replayPositionDesc, replay)
	gauge(s.ch, replayPendingDesc, max(0, receive-replay))
	if st.lastReplayTimestamp != nil {
		gauge(s.ch, lastReplayDesc, *st.lastReplayTimestamp)
	}
	if st.lastMsgReceiptTime != nil {
		gauge(s.ch, lastMessageDesc, *st.lastMsgReceiptTime)
	}

	if receiverUp && replay >= upstreamEnd {
		k.caughtUpAsOf = st.now
		gauge(s.ch, standbyLagDesc, 0)
		return nil
	}
	ref := k.caughtUpAsOf
	if st.lastReplayTimestamp != nil && *st.lastReplayTimestamp > ref {
		ref = *st.lastReplayTimestamp
	}
	if ref > 0 { // unknown right after a restart of both: no sample rather than a made-up one
		gauge(s.ch, standbyLagDesc, max(0, st.now-ref))
	}
	return nil
}

func zeroIfNil(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

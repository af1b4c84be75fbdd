package rules

import (
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// def is how one alert of the spec is computed, described and tested.
type def struct {
	expr      func(g *gen, v spec.Value) string
	describe  string // THRESHOLD is replaced by the spec's value as written
	dashboard string // uid of the dashboard that shows the signal
	fx        fixture
	// multi builds alerts that are several rules (burn rates); they are
	// tested by scenarios instead of fixtures.
	multi func(g *gen, name string, a spec.Alert) []*AlertRule
	// window is how far back the expression looks (its rate window): a
	// fault is seen only once the window holds enough of it, so the rule's
	// `for` is the spec's detection time less this.
	window time.Duration
	// history is the job whose targets the expression reads, and on the
	// labels the expression keeps of them: a windowed rule judges only a
	// window Prometheus has seen whole (see fullWindow).
	history, on string
}

// Dashboard uids, shared with the dashboards generator.
const (
	DashRealtime = "hotelops-realtime"
	DashSLA      = "hotelops-sla"
	DashDatabase = "hotelops-database"
	DashBusiness = "hotelops-business"
	DashSuite    = "hotelops-suite"
)

// files lists the rule files, their recording rules and their alerts in
// the order they are written.
var files = []ruleFile{
	{name: "app.yml", recording: appRecording, alerts: []string{
		"HotelAppDown", "HotelAppUnreachable", "HotelAppErrorRateCritical", "HotelAppErrorRateHigh", "HotelAppLatencyCritical", "HotelAppLatencyHigh"}},
	{name: "throughput.yml", recording: none, alerts: []string{"HotelAppThroughputDropCritical", "HotelAppThroughputDropWarning"}},
	{name: "business.yml", recording: none, alerts: []string{"BusinessOrdersDrop"}},
	{name: "node.yml", recording: nodeRecording, alerts: []string{
		"NodeCPUCritical", "NodeCPUHigh", "NodeMemoryCritical", "NodeMemoryHigh",
		"NodeDiskCritical", "NodeDiskHigh", "NodeNetworkCritical", "NodeNetworkHigh", "NodeExporterDown"}},
	{name: "database.yml", recording: none, alerts: []string{
		"PostgresDown", "PostgresConnectionsCritical", "PostgresConnectionsHigh", "PostgresSlowQueriesCritical", "PostgresSlowQueries",
		"PostgresReplicationLagCritical", "PostgresReplicationLagHigh", "PostgresStandbyDisconnected",
		"PostgresWALArchivingFailing", "PostgresArchiveTimeoutTooLong",
		"PgBouncerDown", "PgBouncerPoolCritical", "PgBouncerPoolHigh", "PgBouncerPoolWaitCritical", "PgBouncerPoolWaitHigh",
		"PgBouncerClientConnectionsCritical", "PgBouncerClientConnectionsHigh"}},
	{name: "backup.yml", recording: none, alerts: []string{
		"BackupFullTooOld", "BackupIncrTooOld", "WALChainBroken", "RPOExceeded", "PITRWindowTooShort",
		"BackupNotEncrypted", "BackupCrossRegionCopyStale", "RestoreTestOverdue", "RestoreTestFailed", "BackupVerificationOverdue",
		"RestoreRTOExceeded"}},
	{name: "slo.yml", recording: sloRecording, alerts: []string{"SLOAvailabilityBudgetBurn", "SLOLatencyBudgetBurn", "SLAMonthlyBudgetSpent"}},
	{name: "reliability.yml", recording: reliabilityRecording, alerts: []string{"MTTRAboveTarget", "MTBFBelowTarget"}},
	{name: "security.yml", recording: none, alerts: []string{
		"BruteForceSuspected", "LoginFailuresHigh", "CertificateExpiryCritical", "CertificateExpiringSoon"}},
	{name: "suite.yml", recording: none, alerts: []string{"HotelOpsExporterDown", "PITRRefreshFailing", "EscalatorNotificationsFailing", "EscalatorDown",
		"SLAQueryFailing", "SLARefreshFailing"}},
	// Its own file and group: it reads the ALERTS series every other group
	// writes.
	{name: "fallback.yml", recording: none, alerts: []string{"EscalatorFallback"}},
}

func none(*gen) []Rule { return nil }

// catalog maps each alert of the spec to its definition.
var catalog = map[string]*def{}

func register(defs map[string]*def) {
	for k, v := range defs {
		catalog[k] = v
	}
}

const minute = time.Minute

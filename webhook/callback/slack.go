package callback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/hotel-ops/hotel-ops/webhook/notify"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

// Slack receives the interactions of the Slack app whose incoming webhook
// escalator posts to: a click on a notification's Acknowledge button
// acknowledges its incident. The app's Interactivity Request URL is
// <external_url>/callbacks/slack.
//
// Slack signs each request (X-Slack-Signature: v0=HMAC-SHA256 of
// "v0:<X-Slack-Request-Timestamp>:<body>" with the app's signing secret)
// and the timestamp may be at most 5 minutes from now, which
// slack.SecretsVerifier checks in constant time. Within those 5 minutes the
// same click can be played again: acknowledging twice changes nothing.
type Slack struct {
	Secret string // the app's signing secret
	Acker  Acker
	// Approver takes the Approve buttons of actions waiting for
	// approval; nil: they only open their signed link.
	Approver Approver
	Logger   *slog.Logger
	MaxBody  int64         // default DefaultMaxBody
	Timeout  time.Duration // default DefaultTimeout
}

func (h *Slack) logger() *slog.Logger { return orDiscard(h.Logger) }

func (h *Slack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ok := signedBody(w, r, h.MaxBody, h.logger(), "Slack", func(header http.Header, body []byte) error {
		return verifySlack(header, h.Secret, body)
	})
	if !ok {
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		http.Error(w, "want application/x-www-form-urlencoded", http.StatusUnsupportedMediaType)
		return
	}
	act, err := parseSlack(body)
	if err != nil {
		h.logger().Warn("Slack callback unreadable", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if act.Incident == "" {
		// Another interaction (another button, a shortcut): nothing to do,
		// and Slack wants its 200.
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout(h.Timeout))
	defer cancel()
	if act.Action != "" {
		h.approve(ctx, w, act)
		return
	}
	_, err = h.Acker.Ack(ctx, act.Incident, act.By)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Pruned since, or a message escalator did not send: the person
		// can do nothing about it, so Slack gets its 200.
		h.logger().Info("Slack acknowledgement of an unknown incident", "incident", act.Incident, "by", act.By)
		w.WriteHeader(http.StatusOK)
	case err != nil:
		// Slack shows the person that the click failed, so they know
		// to try again or use the link.
		h.logger().Error("Slack acknowledgement", "incident", act.Incident, "by", act.By, "err", err)
		http.Error(w, "store unavailable; try again", http.StatusServiceUnavailable)
	default:
		h.logger().Info("Acknowledged from Slack", "incident", act.Incident, "by", act.By)
		w.WriteHeader(http.StatusOK)
	}
}

// approve gives the approval an Approve button asks for, as the person
// who clicked. Nothing waiting (approved already, timed out, begun) is a
// 200: the click changed nothing, and the link says so.
func (h *Slack) approve(ctx context.Context, w http.ResponseWriter, act slackAction) {
	if h.Approver == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	err := h.Approver.ApproveAction(ctx, act.Incident, act.Action, act.By)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.logger().Info("Slack approval of a run that does not wait", "incident", act.Incident, "action", act.Action, "by", act.By)
		w.WriteHeader(http.StatusOK)
	case err != nil:
		h.logger().Error("Slack approval", "incident", act.Incident, "action", act.Action, "by", act.By, "err", err)
		http.Error(w, "store unavailable; try again", http.StatusServiceUnavailable)
	default:
		h.logger().Info("Action approved from Slack", "incident", act.Incident, "action", act.Action, "by", act.By)
		w.WriteHeader(http.StatusOK)
	}
}

// verifySlack checks Slack's signature of body and the freshness of its
// timestamp.
func verifySlack(header http.Header, secret string, body []byte) error {
	v, err := slack.NewSecretsVerifier(header, secret)
	if err != nil {
		return fmt.Errorf("slack signature: %w", err)
	}
	if _, err := v.Write(body); err != nil {
		return fmt.Errorf("slack signature: %w", err)
	}
	if err := v.Ensure(); err != nil {
		return fmt.Errorf("slack signature: %w", err)
	}
	return nil
}

// slackAction is what an interaction asks of escalator: to acknowledge
// Incident, on behalf of By. Incident is "" for anything else.
type slackAction struct {
	Incident string
	By       string
	// Action is set for an Approve button: the action approved.
	Action string
}

// actionName is what an Approve button may name: escalator's action
// names (config: letters, digits, _ and -).
var actionName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// parseSlack reads an interaction request's body: a form whose payload
// field is the interaction, JSON. A block_actions interaction whose actions
// include the Acknowledge button of escalator's actions block names the
// incident in the button's value.
func parseSlack(body []byte) (slackAction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return slackAction{}, fmt.Errorf("not a form: %w", err)
	}
	raw := form.Get("payload")
	if raw == "" {
		return slackAction{}, errors.New("no payload field")
	}
	var ic slack.InteractionCallback
	if err := json.Unmarshal([]byte(raw), &ic); err != nil {
		return slackAction{}, fmt.Errorf("payload: %w", err)
	}
	if ic.Type != slack.InteractionTypeBlockActions {
		return slackAction{}, nil
	}
	for _, a := range ic.ActionCallback.BlockActions {
		if a == nil || a.BlockID != notify.SlackActionsBlock {
			continue
		}
		if name, ok := strings.CutPrefix(a.ActionID, notify.SlackApproveAction+":"); ok {
			id, action, _ := strings.Cut(a.Value, " ")
			if !plausibleID(id) || action != name || !actionName.MatchString(action) {
				return slackAction{}, nil // the button's link still works
			}
			return slackAction{Incident: id, Action: action, By: who("slack", ic.User.Username, ic.User.Name, ic.User.ID)}, nil
		}
		if a.ActionID != notify.SlackAckAction {
			continue
		}
		if !plausibleID(a.Value) {
			// A button of ours always carries the id; without a
			// usable one, the link in the button still works.
			return slackAction{}, nil
		}
		return slackAction{Incident: a.Value, By: who("slack", ic.User.Username, ic.User.Name, ic.User.ID)}, nil
	}
	return slackAction{}, nil
}

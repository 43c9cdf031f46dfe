package triage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// routingJSON is the JSON form of Routing: durations as Go duration
// strings (written without zero units: 15m, 720h; read also with days:
// 30d), claim targets by level.
type routingJSON struct {
	WatchLevel    *int              `json:"watch_level,omitempty"`
	QueueLevel    *int              `json:"queue_level,omitempty"`
	Emergency     *int              `json:"emergency_level,omitempty"`
	PHigh         *float64          `json:"p_high,omitempty"`
	Lease         string            `json:"lease,omitempty"`
	Hold          string            `json:"hold,omitempty"`
	HoldEmergency string            `json:"hold_emergency,omitempty"`
	CapTotal      *int              `json:"cap_total,omitempty"`
	CapHigh       *int              `json:"cap_high,omitempty"`
	Retention     string            `json:"retention,omitempty"`
	ClaimTargets  map[string]string `json:"claim_targets,omitempty"`
}

// MarshalJSON writes every setting, but hold and hold_emergency only
// when they differ from their defaults: releases before them do not know
// them, and refuse settings that name them (after a rollback they would
// not start), so saved settings name them only when a moderator has
// changed them.
func (r Routing) MarshalJSON() ([]byte, error) {
	j := routingJSON{WatchLevel: &r.WatchLevel, QueueLevel: &r.QueueLevel, Emergency: &r.EmergencyLevel, PHigh: &r.PHigh,
		Lease: durationText(r.Lease), CapTotal: &r.CapTotal, CapHigh: &r.CapHigh, Retention: durationText(r.Retention),
		ClaimTargets: map[string]string{}}
	if r.Hold != DefaultRouting().Hold {
		j.Hold = durationText(r.Hold)
	}
	if r.HoldEmergency != DefaultRouting().HoldEmergency {
		j.HoldEmergency = durationText(r.HoldEmergency)
	}
	for l, d := range r.ClaimTargets {
		if d > 0 {
			j.ClaimTargets[strconv.Itoa(l)] = durationText(d)
		}
	}
	return json.Marshal(j)
}

// durationText writes d as a Go duration without its zero units: 15m,
// 720h, 1h30m rather than 15m0s, 720h0m0s, 1h30m0s. Any Go duration
// parser reads it, so instances of an older release read the settings
// a newer one saved.
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// spanText writes d as a moderator types it: whole days as days (30d,
// 2d), anything else as durationText does (12h, 15m, 1h30m).
func spanText(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return durationText(d)
}

// parseSpan reads a Go duration, which may begin with a whole number of
// days: 15m, 12h, 30d, 1d12h.
func parseSpan(v string) (time.Duration, error) {
	const day = 24 * time.Hour
	i := strings.IndexByte(v, 'd') // no unit of a Go duration has a d
	if i < 0 {
		return time.ParseDuration(v)
	}
	days, err := strconv.Atoi(v[:i])
	if err != nil || days < 0 || days > 36500 || v[:i][0] == '+' {
		return 0, fmt.Errorf("%q: days are a whole number, 0-36500", v)
	}
	if i+1 == len(v) {
		return time.Duration(days) * day, nil
	}
	if c := v[i+1]; c < '0' || c > '9' {
		return 0, fmt.Errorf("%q: a number follows the days", v)
	}
	d, err := time.ParseDuration(v[i+1:])
	return time.Duration(days)*day + d, err
}

// ParseRouting reads JSON settings over base: absent fields keep base's
// values; unknown fields and bad values are errors that name the field.
func ParseRouting(b []byte, base Routing) (Routing, error) { return parseRouting(b, base, true) }

// readStoredRouting reads settings an instance saved, over the defaults.
// A setting this release does not know (saved by a newer one) is left
// alone, so that a rollback does not stop at settings saved after the
// upgrade; bad values of known settings are errors.
func readStoredRouting(b []byte) (Routing, error) { return parseRouting(b, DefaultRouting(), false) }

func parseRouting(b []byte, base Routing, strict bool) (Routing, error) {
	r := base
	var j routingJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(&j); err != nil {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return r, &ValidationError{Field: strings.Trim(f, `"`), Msg: "unknown setting"}
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return r, &ValidationError{Field: te.Field, Msg: "wrong type"}
		}
		return r, &ValidationError{Field: "settings", Msg: "not a JSON object"}
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&r.WatchLevel, j.WatchLevel)
	set(&r.QueueLevel, j.QueueLevel)
	set(&r.EmergencyLevel, j.Emergency)
	set(&r.CapTotal, j.CapTotal)
	set(&r.CapHigh, j.CapHigh)
	if j.PHigh != nil {
		r.PHigh = *j.PHigh
	}
	dur := func(field, v string, dst *time.Duration) error {
		if v == "" {
			return nil
		}
		d, err := parseSpan(v)
		if err != nil {
			return &ValidationError{Field: field, Msg: fmt.Sprintf("%q is not a duration like 15m, 12h or 30d", v)}
		}
		*dst = d
		return nil
	}
	if err := dur("lease", j.Lease, &r.Lease); err != nil {
		return r, err
	}
	if err := dur("hold", j.Hold, &r.Hold); err != nil {
		return r, err
	}
	if err := dur("hold_emergency", j.HoldEmergency, &r.HoldEmergency); err != nil {
		return r, err
	}
	if err := dur("retention", j.Retention, &r.Retention); err != nil {
		return r, err
	}
	if j.ClaimTargets != nil {
		r.ClaimTargets = [11]time.Duration{}
		for k, v := range j.ClaimTargets {
			l, err := strconv.Atoi(k)
			if err != nil || l < 0 || l > 10 {
				return r, &ValidationError{Field: "claim_targets", Msg: fmt.Sprintf("level %q is not 0-10", k)}
			}
			if err := dur("claim_targets."+k, v, &r.ClaimTargets[l]); err != nil {
				return r, err
			}
		}
	}
	if err := r.Validate(); err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		return r, &ValidationError{Field: field, Msg: msg}
	}
	return r, nil
}

// SettingsVersion is one saved version of the routing settings.
type SettingsVersion struct {
	Version int64     `json:"version"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Why     string    `json:"why"`
	Routing Routing   `json:"routing"`
}

func decodeVersion(s string) (SettingsVersion, error) {
	var raw struct {
		Version int64           `json:"version"`
		By      string          `json:"by"`
		At      time.Time       `json:"at"`
		Why     string          `json:"why"`
		Routing json.RawMessage `json:"routing"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return SettingsVersion{}, fmt.Errorf("settings record: %w", err)
	}
	r, err := readStoredRouting(raw.Routing)
	if err != nil {
		return SettingsVersion{}, fmt.Errorf("settings record v%d: %w", raw.Version, err)
	}
	return SettingsVersion{Version: raw.Version, By: raw.By, At: raw.At, Why: raw.Why, Routing: r}, nil
}

const maxWhyBytes = 1000

// SaveSettings validates and saves new routing settings as the next
// version, audited. Every instance applies them within its watch interval.
func (s *Store) SaveSettings(ctx context.Context, actor, why string, r Routing) (SettingsVersion, error) {
	if err := r.Validate(); err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		return SettingsVersion{}, &ValidationError{Field: field, Msg: msg}
	}
	why = strings.TrimSpace(why)
	if why == "" || len(why) > maxWhyBytes {
		return SettingsVersion{}, &ValidationError{Field: "why", Msg: "say why, in at most 1000 bytes"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v, err := s.rdb.Incr(ctx, keySettingsSeq).Result()
	if err != nil {
		return SettingsVersion{}, fmt.Errorf("save settings: %w", err)
	}
	sv := SettingsVersion{Version: v, By: actor, At: s.clock().UTC(), Why: why, Routing: r}
	b, err := json.Marshal(sv)
	if err != nil {
		return SettingsVersion{}, err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, keySettings, b, 0)
		p.RPush(ctx, keySettingsHistory, b)
		s.auditIn(ctx, p, "", actor, "settings_changed", "version="+strconv.FormatInt(v, 10))
		return nil
	})
	if err != nil {
		return SettingsVersion{}, fmt.Errorf("save settings: %w", err)
	}
	s.setRouting(r)
	return sv, nil
}

// CurrentSettings returns the saved settings; ok is false when none were
// ever saved.
func (s *Store) CurrentSettings(ctx context.Context) (sv SettingsVersion, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	raw, err := s.rdb.Get(ctx, keySettings).Result()
	if err == redis.Nil {
		return SettingsVersion{}, false, nil
	}
	if err != nil {
		return SettingsVersion{}, false, fmt.Errorf("read settings: %w", err)
	}
	sv, err = decodeVersion(raw)
	return sv, err == nil, err
}

// SettingsHistory returns every saved version, newest first.
func (s *Store) SettingsHistory(ctx context.Context) ([]SettingsVersion, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	raws, err := s.rdb.LRange(ctx, keySettingsHistory, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("settings history: %w", err)
	}
	out := make([]SettingsVersion, 0, len(raws))
	for i := len(raws) - 1; i >= 0; i-- {
		if v, err := decodeVersion(raws[i]); err == nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// Rollback saves an earlier version's settings as the newest version.
func (s *Store) Rollback(ctx context.Context, actor string, version int64, why string) (SettingsVersion, error) {
	hist, err := s.SettingsHistory(ctx)
	if err != nil {
		return SettingsVersion{}, err
	}
	for _, v := range hist {
		if v.Version == version {
			return s.SaveSettings(ctx, actor, fmt.Sprintf("rollback to v%d: %s", version, why), v.Routing)
		}
	}
	return SettingsVersion{}, &ValidationError{Field: "version", Msg: fmt.Sprintf("no version %d", version)}
}

// SeedSettings saves r as the first version when Redis holds none, and
// otherwise applies what Redis holds: Redis wins over a settings file.
func (s *Store) SeedSettings(ctx context.Context, r Routing, source string) (SettingsVersion, error) {
	cur, ok, err := s.CurrentSettings(ctx)
	if err != nil {
		return SettingsVersion{}, err
	}
	if ok {
		s.setRouting(cur.Routing)
		return cur, nil
	}
	return s.SaveSettings(ctx, "system", "seeded from "+source, r)
}

// WatchSettings applies saved settings as they change, checking every
// interval, until ctx ends.
func (s *Store) WatchSettings(ctx context.Context, interval time.Duration, log *slog.Logger) {
	var applied int64
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		cur, ok, err := s.CurrentSettings(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("reading settings failed; keeping the ones in force", "err", err)
		case ok && cur.Version != applied:
			s.setRouting(cur.Routing)
			applied = cur.Version
			log.Info("settings applied", "version", cur.Version)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

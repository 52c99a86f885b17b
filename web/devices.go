package web

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/store"
)

// Pairing is what a dongle is told when it pairs: where the broker is and,
// for TLS, the CA that signed its certificate.
type Pairing struct {
	BrokerURL string // tcp://HOST:PORT or ssl://HOST:PORT
	CAPEM     string
}

// pairingTTL is how long a pairing code works.
const pairingTTL = 15 * time.Minute

// pairAlphabet has no 0/O or 1/I/L to mistake when typing a code by hand.
const pairAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// newPairingCode is eight characters (about 39 bits) shown as XXXX-XXXX.
func newPairingCode() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, 0, 9)
	for i, x := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, pairAlphabet[int(x)%len(pairAlphabet)])
	}
	return string(out)
}

// normalizeCode reads a code as typed: case, spaces and dashes do not
// matter.
func normalizeCode(c string) string {
	c = strings.ToUpper(c)
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, c)
}

// PairingCode is a code an owner types into a dongle.
type PairingCode struct {
	Code    string    `json:"code"`
	Expires time.Time `json:"expires"`
	Command string    `json:"command"` // the agent's command line that uses it
}

func (w *Web) newPairing(ctx context.Context, c *caller, vehicleID string) (PairingCode, error) {
	v, err := w.vehicleFor(ctx, c, vehicleID)
	if err != nil {
		return PairingCode{}, err
	}
	code := newPairingCode()
	exp := time.Now().Add(pairingTTL).UTC().Truncate(time.Second)
	if err := w.st.AddPairingCode(ctx, hashSecret(normalizeCode(code)), v.ID, exp); err != nil {
		return PairingCode{}, err
	}
	return PairingCode{Code: code, Expires: exp,
		Command: "pitwall agent --adapter ADAPTER_URL --server " + strings.TrimRight(w.publicURL, "/") + " --pair " + code}, nil
}

func (w *Web) createPairingCode(rw http.ResponseWriter, r *http.Request, c *caller) error {
	pc, err := w.newPairing(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusCreated, pc)
	return nil
}

// Paired is what a dongle gets for a good code: its identity, its secret
// and where to send. It is shown once.
type Paired struct {
	DeviceID  string `json:"device_id"`
	VehicleID string `json:"vehicle_id"`
	Secret    string `json:"secret"`
	// CommandKey authorises commands that write to the car; only the
	// server and this dongle hold it.
	CommandKey string `json:"command_key"`
	BrokerURL  string `json:"broker_url"`
	CAPEM      string `json:"ca_pem,omitempty"`
}

// pair trades a pairing code for a new device fitted to the code's car.
// No session: the code is the credential, so attempts are limited per
// address.
func (w *Web) pair(rw http.ResponseWriter, r *http.Request) {
	var in struct {
		Code         string `json:"code"`
		AgentVersion string `json:"agent_version"`
	}
	if err := decode(r, &in); err != nil {
		w.writeError(rw, r, err)
		return
	}
	if wait := w.pairings.attempt("pair:" + w.clientIP(r)); wait > 0 {
		w.writeError(rw, r, &rateLimited{wait})
		return
	}
	code := normalizeCode(in.Code)
	if len(code) != 8 || strings.Trim(code, pairAlphabet) != "" {
		w.writeError(rw, r, invalid("code", "a pairing code is eight letters and digits, like ABCD-2345"))
		return
	}
	if w.pairing.BrokerURL == "" {
		w.writeError(rw, r, fail(http.StatusServiceUnavailable, "no_broker", "this server has no broker address for dongles; its operator sets pairing.broker_url"))
		return
	}
	p, err := w.pairCode(r.Context(), code)
	if err != nil {
		w.writeError(rw, r, err)
		return
	}
	w.log.Info("web: a dongle paired", "device", p.DeviceID, "vehicle", p.VehicleID, "agent_version", in.AgentVersion, "remote", w.clientIP(r))
	w.writeJSON(rw, http.StatusCreated, p)
}

func (w *Web) pairCode(ctx context.Context, code string) (Paired, error) {
	hash := hashSecret(code)
	vehicle, err := w.st.ClaimPairingCode(ctx, hash)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExpired) {
		return Paired{}, fail(http.StatusGone, "code_gone", "this pairing code is unknown, expired or used already: ask the car's page for a new one")
	}
	if err != nil {
		return Paired{}, err
	}
	id := "dongle-" + strings.ToLower(newID(10))
	d, sec, err := w.st.AddDevice(ctx, id, vehicle)
	if err != nil {
		return Paired{}, err
	}
	if err := w.st.SetPairedDevice(ctx, hash, d.ID); err != nil {
		return Paired{}, err
	}
	return Paired{DeviceID: d.ID, VehicleID: vehicle, Secret: sec, CommandKey: wire.FormatCommandKey(d.CommandKey), BrokerURL: w.pairing.BrokerURL, CAPEM: w.pairing.CAPEM}, nil
}

// newID is n random characters of the pairing alphabet.
func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = pairAlphabet[int(b[i])%len(pairAlphabet)]
	}
	return string(b)
}

// DeviceView is a device as its owner or an administrator sees it.
type DeviceView struct {
	ID        string    `json:"id"`
	VehicleID string    `json:"vehicle_id,omitempty"`
	Created   time.Time `json:"created"`
	Revoked   bool      `json:"revoked"`
	Online    bool      `json:"online"`
	Seen      time.Time `json:"seen,omitzero"`
	VIN       string    `json:"reported_vin,omitempty"`
}

func (w *Web) devicesOf(ctx context.Context, c *caller) ([]store.Device, error) {
	if c.Role == RoleAdmin {
		return w.st.Devices(ctx)
	}
	vs, err := w.st.Vehicles(ctx, c.OwnerID)
	if err != nil {
		return nil, err
	}
	var devs []store.Device
	for _, v := range vs {
		ds, err := w.st.DevicesOfVehicle(ctx, v.ID)
		if err != nil {
			return nil, err
		}
		devs = append(devs, ds...)
	}
	return devs, nil
}

func (w *Web) listDevices(rw http.ResponseWriter, r *http.Request, c *caller) error {
	devs, err := w.devicesOf(r.Context(), c)
	if err != nil {
		return err
	}
	out := []DeviceView{}
	for _, d := range devs {
		x := DeviceView{ID: d.ID, VehicleID: d.VehicleID, Created: d.Created, Revoked: !d.Active()}
		if st, err := w.st.Status(r.Context(), d.ID); err == nil {
			x.Online, x.Seen, x.VIN = st.Online, st.Seen, st.VIN
		}
		out = append(out, x)
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"devices": out})
	return nil
}

func (w *Web) addDevice(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		ID        string `json:"id"`
		VehicleID string `json:"vehicle_id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	d, sec, err := w.st.AddDevice(r.Context(), in.ID, in.VehicleID)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusCreated, map[string]any{"id": d.ID, "vehicle_id": d.VehicleID, "secret": sec, "command_key": wire.FormatCommandKey(d.CommandKey)})
	return nil
}

// deviceFor reads a device the caller may manage: an owner's own (fitted
// to one of their cars), any for an administrator.
func (w *Web) deviceFor(ctx context.Context, c *caller, id string) (store.Device, error) {
	d, err := w.st.Device(ctx, id)
	if err != nil {
		return d, err
	}
	if c.Role == RoleAdmin {
		return d, nil
	}
	if d.VehicleID != "" {
		if v, err := w.st.Vehicle(ctx, d.VehicleID); err == nil && v.OwnerID == c.OwnerID && c.OwnerID != "" {
			return d, nil
		}
	}
	return store.Device{}, fail(http.StatusNotFound, "not_found", "device %s: not found", id)
}

func (w *Web) revokeDevice(rw http.ResponseWriter, r *http.Request, c *caller) error {
	d, err := w.deviceFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := w.fleet.RevokeDevice(r.Context(), d.ID); err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]string{"id": d.ID, "status": "revoked"})
	return nil
}

// --- pages ---

func (w *Web) pairPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	pc, err := w.newPairing(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := w.vehicleFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "pair.html", pageData{Title: "Pair a dongle", Data: map[string]any{"Vehicle": v, "Pairing": pc}})
	return nil
}

func (w *Web) revokePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	d, err := w.deviceFor(r.Context(), c, r.PathValue("device"))
	if err != nil {
		return err
	}
	if d.VehicleID != r.PathValue("id") {
		return fail(http.StatusNotFound, "not_found", "device %s is not fitted to this car", d.ID)
	}
	if err := w.fleet.RevokeDevice(r.Context(), d.ID); err != nil {
		return err
	}
	http.Redirect(rw, r, "/vehicles/"+url.PathEscape(d.VehicleID)+"?notice="+url.QueryEscape("Dongle "+d.ID+" revoked: it is cut off and cannot log in again."), http.StatusSeeOther)
	return nil
}

// clearCodes asks the car's connected dongles to clear its trouble codes
// (service 04): only at its owner's explicit request, with a command each
// dongle can check was signed for it, now, once.
func (w *Web) clearCodes(ctx context.Context, c *caller, vehicleID string) ([]string, error) {
	g, err := w.garageOne(ctx, c, vehicleID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, d := range g.Devices {
		if d.Revoked || !d.Online {
			continue
		}
		id, err := w.fleet.ClearTroubleCodes(ctx, d.ID)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fail(http.StatusConflict, "offline", "no dongle of this car is online to clear its codes; start the car with the dongle plugged in")
	}
	w.forgetDiagnosis(vehicleID)
	return ids, nil
}

func (w *Web) clearCodesAPI(rw http.ResponseWriter, r *http.Request, c *caller) error {
	ids, err := w.clearCodes(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusAccepted, map[string]any{"commands": ids,
		"message": "Sent: the car clears its codes when its dongle receives the command; the result arrives in the car's messages."})
	return nil
}

func (w *Web) clearCodesPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if r.PostFormValue("confirm") != "yes" {
		return invalid("confirm", "tick the box: clearing erases the codes and freeze frames a shop would read")
	}
	if _, err := w.clearCodes(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(rw, r, "/vehicles/"+url.PathEscape(r.PathValue("id"))+"?notice="+url.QueryEscape("Sent: the car clears its trouble codes when its dongle gets the command."), http.StatusSeeOther)
	return nil
}

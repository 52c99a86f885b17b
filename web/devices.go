package web

import (
	"net/http"
	"time"

	"github.com/pitwall-io/pitwall/store"
)

func (w *Web) listDevices(rw http.ResponseWriter, r *http.Request, c *caller) error {
	type dv struct {
		ID        string    `json:"id"`
		VehicleID string    `json:"vehicle_id,omitempty"`
		Created   time.Time `json:"created"`
		Revoked   bool      `json:"revoked"`
		Online    bool      `json:"online"`
		Seen      time.Time `json:"seen,omitzero"`
	}
	var devs []store.Device
	if c.Role == RoleAdmin {
		all, err := w.st.Devices(r.Context())
		if err != nil {
			return err
		}
		devs = all
	} else {
		vs, err := w.st.Vehicles(r.Context(), c.OwnerID)
		if err != nil {
			return err
		}
		for _, v := range vs {
			ds, err := w.st.DevicesOfVehicle(r.Context(), v.ID)
			if err != nil {
				return err
			}
			devs = append(devs, ds...)
		}
	}
	out := []dv{}
	for _, d := range devs {
		x := dv{ID: d.ID, VehicleID: d.VehicleID, Created: d.Created, Revoked: !d.Active()}
		if st, err := w.st.Status(r.Context(), d.ID); err == nil {
			x.Online, x.Seen = st.Online, st.Seen
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
	w.writeJSON(rw, http.StatusCreated, map[string]any{"id": d.ID, "vehicle_id": d.VehicleID, "secret": sec})
	return nil
}

func (w *Web) revokeDevice(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if err := w.st.RevokeDevice(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]string{"id": r.PathValue("id"), "status": "revoked"})
	return nil
}

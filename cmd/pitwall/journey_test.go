package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

// The test binary is also the pitwall binary: with PITWALL_TEST_MAIN set,
// it runs the command line instead of the tests, so the journey test
// starts real server, simulator and agent processes of this very code.
func TestMain(m *testing.M) {
	if os.Getenv("PITWALL_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// proc is a pitwall process of the test's.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the process printed something matching re, and
// returns its first submatch.
func (p *proc) waitFor(t testing.TB, re *regexp.Regexp, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.output()); m != nil {
			return m[len(m)-1]
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before printing %s:\n%s", p.name, re, p.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not print %s within %v:\n%s", p.name, re, within, p.output())
	return ""
}

// start runs `pitwall ARGS...` as a process of its own, stopped (SIGTERM,
// then SIGKILL) when the test ends; its output is shown when the test
// fails.
func start(t testing.TB, name string, stdin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), "PITWALL_TEST_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.Stdin = strings.NewReader(stdin)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s:\n%s", name, tail(p.output(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// runCmd runs a pitwall command to its end and returns its output.
func runCmd(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	p := start(t, strings.Join(args[:2], " "), stdin, args...)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("pitwall %s did not finish", strings.Join(args, " "))
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("pitwall %s: exit %d\n%s", strings.Join(args, " "), code, p.output())
	}
	return p.output()
}

var (
	httpRE    = regexp.MustCompile(`pitwall server \S+: http (127\.0\.0\.1:\d+)`)
	tcpRE     = regexp.MustCompile(`(tcp://127\.0\.0\.1:\d+)`)
	confirmRE = regexp.MustCompile(`(https?://\S+/confirm\?token=[A-Za-z0-9_-]+)`)
)

// From an empty server to a booked repair, as people do it: an owner
// signs up and confirms by email, adds the car by VIN, pairs a real agent
// with a code; the car streams; it overheats; the alert comes with its
// pre-diagnosis and shops; a shop that signed up and was approved gets
// the lead, quotes, and once booked sees who is coming.
func TestJourneyFromAnEmptyServer(t *testing.T) {
	exe := testserver.Chromium(t)
	dir := testserver.Artefacts(t)
	shot := func(name string) chromedp.Action { return testserver.Shot(dir, "journey-"+name) }
	tmp := t.TempDir()
	mail := testserver.StartSMTP(t, testserver.SMTPOptions{NoTLS: true})
	db := filepath.Join(tmp, "pitwall.db")
	cfg := fmt.Sprintf(`store:
  path: %s
series:
  path: %s
embedded_broker:
  addr: 127.0.0.1:0
http:
  addr: 127.0.0.1:0
alerting:
  email:
    addr: %s
    from: pitwall@example.com
    allow_plain: true
booking:
  sweep_interval: 5s
`, db, filepath.Join(tmp, "series.db"), mail.Addr())
	if err := os.WriteFile(filepath.Join(tmp, "server.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := start(t, "server", "", "server", "--config", filepath.Join(tmp, "server.yaml"))
	base := "http://" + srv.waitFor(t, httpRE, time.Minute)
	waitReady(t, base)
	runCmd(t, "keys to every workshop\n", "users", "add", "admin@example.com", "--role", "admin", "--db", db)
	sim := start(t, "sim", "", "sim", "elm327", "--listen", "tcp://127.0.0.1:0", "--scenario", "overheat", "--speed", "20")
	adapter := sim.waitFor(t, tcpRE, 30*time.Second)

	// The owner signs up and confirms the address from the mail.
	owner, stopOwner := testserver.Browser(t, exe, 8*time.Minute)
	defer stopOwner()
	testserver.Step(t, owner, dir,
		chromedp.Navigate(base+"/signup"),
		chromedp.WaitVisible("#signup", chromedp.ByID),
		chromedp.SendKeys("#name", "Marta Reis", chromedp.ByID),
		chromedp.SendKeys("#email", "marta@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "a long and quiet drive", chromedp.ByID),
		shot("01-owner-signup"),
		chromedp.Click("#create", chromedp.ByID),
		chromedp.WaitVisible("#message", chromedp.ByID),
		shot("02-owner-check-email"),
	)
	link := mail.WaitMail(t, "marta@example.com", confirmRE, 30*time.Second)
	var pairing string
	testserver.Step(t, owner, dir,
		chromedp.Navigate(link),
		chromedp.WaitVisible("#add-vehicle", chromedp.ByID),
		shot("03-owner-confirmed"),
		chromedp.Click("#add-vehicle", chromedp.ByID),
		chromedp.WaitVisible("#vehicle-form", chromedp.ByID),
		chromedp.SendKeys("#vin", "1G1JC5444R7252367", chromedp.ByID), // the simulated car's
		chromedp.SendKeys("#model", "Cavalier", chromedp.ByID),
		chromedp.SendKeys("#name", "Work car", chromedp.ByID),
		chromedp.SendKeys("#odometer_km", "48213", chromedp.ByID),
		chromedp.SendKeys("#lat", "38.7223", chromedp.ByID),
		chromedp.SendKeys("#lon", "-9.1393", chromedp.ByID),
		shot("04-owner-add-car"),
		chromedp.Click("#save-vehicle", chromedp.ByID),
		chromedp.WaitVisible("#pair", chromedp.ByID),
		chromedp.Click("#pair", chromedp.ByID),
		chromedp.WaitVisible("#pairing-code", chromedp.ByID),
		chromedp.Text("#pairing-code", &pairing, chromedp.ByID),
		shot("05-owner-pairing-code"),
	)
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByEmail(context.Background(), "marta@example.com")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := st.Vehicles(context.Background(), u.OwnerID)
	if err != nil || len(vs) != 1 || vs[0].Make != "Chevrolet" {
		t.Fatalf("the owner's car: %+v %v", vs, err)
	}
	car := vs[0]

	// The dongle pairs with the code and streams.
	agent := start(t, "agent", "", "agent", "--adapter", adapter, "--server", base, "--pair", strings.TrimSpace(pairing), "--state", filepath.Join(tmp, "agent"))
	agent.waitFor(t, regexp.MustCompile(`paired as device (\S+)`), time.Minute)
	if fi, err := os.Stat(filepath.Join(tmp, "agent", "credentials.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the agent's credentials: %v %v", fi, err)
	}
	testserver.Step(t, owner, dir,
		chromedp.Navigate(base+"/vehicles/"+car.ID),
		chromedp.WaitVisible(`#devices .dot.on`, chromedp.ByQuery),
		chromedp.WaitVisible(`h1 .dot.on`, chromedp.ByQuery),
	)
	waitUntil(t, time.Minute, "live values on the car's page", func() bool {
		var v string
		_ = chromedp.Run(owner, chromedp.Text(`.gauges [data-sig="Vehicle.Powertrain.CombustionEngine.Speed"]`, &v, chromedp.ByQuery))
		return v != "" && v != "–"
	})
	testserver.Step(t, owner, dir, shot("06-owner-car-live"))

	// A repair shop signs up, fills its profile and waits for approval.
	shop, stopShop := testserver.Browser(t, exe, 8*time.Minute)
	defer stopShop()
	testserver.Step(t, shop, dir,
		chromedp.Navigate(base+"/signup?role=shop"),
		chromedp.WaitVisible("#shop_name", chromedp.ByID),
		chromedp.SendKeys("#shop_name", "Oficina do Bairro", chromedp.ByID),
		chromedp.SendKeys("#name", "Rui Costa", chromedp.ByID),
		chromedp.SendKeys("#email", "rui@oficina.example", chromedp.ByID),
		chromedp.SendKeys("#password", "pistons and patience", chromedp.ByID),
		chromedp.Click("#create", chromedp.ByID),
		chromedp.WaitVisible("#message", chromedp.ByID),
	)
	link = mail.WaitMail(t, "rui@oficina.example", confirmRE, 30*time.Second)
	actions := []chromedp.Action{
		chromedp.Navigate(link),
		chromedp.WaitVisible("#shop-profile", chromedp.ByID),
		chromedp.SendKeys("#address", "Rua do Bairro 7, Lisboa", chromedp.ByID),
		chromedp.SendKeys("#lat", "38.7300", chromedp.ByID),
		chromedp.SendKeys("#lon", "-9.1500", chromedp.ByID),
		chromedp.SetValue("#timezone", "Europe/Lisbon", chromedp.ByID),
		chromedp.Click(`input[name="systems"][value="cooling"]`, chromedp.ByQuery),
		chromedp.Click(`input[name="systems"][value="engine"]`, chromedp.ByQuery),
		chromedp.SendKeys("#labour_rate", "55", chromedp.ByID),
		chromedp.SetValue("#currency", "USD", chromedp.ByID),
		chromedp.SendKeys("#capacity", "4", chromedp.ByID),
	}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
		actions = append(actions, chromedp.SendKeys("#hours_"+d, "00:00-23:59", chromedp.ByID))
	}
	actions = append(actions, shot("07-shop-profile"), chromedp.Click("#save-shop", chromedp.ByID),
		chromedp.WaitVisible(".flash.ok", chromedp.ByQuery), shot("08-shop-pending"))
	testserver.Step(t, shop, dir, actions...)

	// The administrator approves it.
	admin, stopAdmin := testserver.Browser(t, exe, 8*time.Minute)
	defer stopAdmin()
	testserver.Step(t, admin, dir,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#email", chromedp.ByID),
		chromedp.SendKeys("#email", "admin@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "keys to every workshop", chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("#pending .approve", chromedp.ByQuery),
		shot("09-admin-pending"),
		chromedp.Click("#pending .approve", chromedp.ByQuery),
		chromedp.WaitVisible(".flash.ok", chromedp.ByQuery),
	)

	// The car overheats: the alert arrives with its pre-diagnosis and the
	// approved shop.
	testserver.Step(t, owner, dir, chromedp.Navigate(base+"/garage"))
	// The coolant's alert comes first; the pre-diagnosis, its safe-to-drive
	// verdict beside the alert, once the engine has stored its code.
	waitUntil(t, 5*time.Minute, "the overheat alert with its trouble code's verdict", func() bool {
		var n int
		_ = chromedp.Run(owner, chromedp.Reload(), chromedp.Evaluate(`document.querySelectorAll(".alerts-list li.alert .safe").length`, &n))
		return n > 0
	})
	var safe string
	testserver.Step(t, owner, dir,
		shot("10-owner-alert"),
		chromedp.Click(".alerts-list li.alert a.button", chromedp.ByQuery),
		chromedp.WaitVisible("#summary", chromedp.ByID),
		chromedp.Text("#safe", &safe, chromedp.ByID),
		chromedp.WaitVisible(`#shops li.shop input[name="shop"]:checked`, chromedp.ByQuery),
		shot("11-owner-diagnosis-and-shops"),
		chromedp.Click("#request-quotes", chromedp.ByID),
		chromedp.WaitVisible(".lead", chromedp.ByQuery),
	)
	if safe == "" {
		t.Error("the pre-diagnosis says nothing of safety")
	}
	// The shop quotes.
	testserver.Step(t, shop, dir,
		chromedp.Navigate(base+"/shop"),
		chromedp.WaitVisible("a.open-lead", chromedp.ByQuery),
		shot("12-shop-lead"),
		chromedp.Click("a.open-lead", chromedp.ByQuery),
		chromedp.WaitVisible("#quote-form", chromedp.ByID),
		chromedp.SendKeys("#quote", "180", chromedp.ByID),
		chromedp.Click("#send-quote", chromedp.ByID),
		chromedp.WaitVisible(".flash.ok", chromedp.ByQuery),
	)
	// The owner books, giving the email address.
	testserver.Step(t, owner, dir,
		chromedp.Navigate(base+"/leads"),
		chromedp.WaitVisible("button.book", chromedp.ByQuery),
		shot("13-owner-quote"),
		chromedp.Click("button.book", chromedp.ByQuery),
		chromedp.WaitVisible("tr.booking.requested", chromedp.ByQuery),
	)
	var who, email string
	testserver.Step(t, shop, dir,
		chromedp.Navigate(base+"/shop/bookings"),
		chromedp.WaitVisible(`a[href^="/shop/bookings/"]`, chromedp.ByQuery),
		chromedp.Click(`a[href^="/shop/bookings/"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#contact-name", chromedp.ByID),
		chromedp.Text("#contact-name", &who, chromedp.ByID),
		chromedp.Text("#contact-email", &email, chromedp.ByID),
		shot("14-shop-booking-who"),
	)
	if who != "Marta Reis" || email != "marta@example.com" {
		t.Errorf("the shop sees %q %q", who, email)
	}
	t.Logf("screenshots in %s", dir)
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	waitUntil(t, time.Minute, "the server's /readyz", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(time.Second)
	}
}

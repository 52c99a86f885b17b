package demo_test

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/pitwall-io/pitwall/demo"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/testserver"
)

// BenchmarkVehicleChartsDay measures the vehicle page's charts over a day
// of 1 Hz data (86,400 points of each of four signals) in Chromium: from
// the request for the history to the last chart drawn (ms/charts, as the
// page measures it), and from navigation to drawn (ms/page).
//
//	go test -run - -bench VehicleChartsDay ./demo
func BenchmarkVehicleChartsDay(b *testing.B) {
	exe := testserver.Chromium(b)
	d, err := demo.Start(context.Background(), demo.Options{HTTP: "127.0.0.1:0", Vehicles: 1, Speed: 1, BcryptCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Stop()
	ctx := context.Background()
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	var pts []series.Point
	for i := 86400; i > 0; i-- {
		t := end.Add(-time.Duration(i) * time.Second)
		x := float64(i)
		pts = append(pts, series.Point{Device: "demo-00001", Time: t, Fields: []series.Field{
			{Signal: diagnosis.SigSpeed, Value: 60 + 50*math.Sin(x/600)}, {Signal: diagnosis.SigRPM, Value: 2000 + 1200*math.Sin(x/300)},
			{Signal: diagnosis.SigCoolant, Value: 90 + 3*math.Sin(x/900)}, {Signal: diagnosis.SigBattery, Value: 14 + 0.2*math.Sin(x/60)}}})
		if len(pts) == 10000 {
			if err := d.Server.Series.Write(ctx, pts); err != nil {
				b.Fatal(err)
			}
			pts = pts[:0]
		}
	}
	if err := d.Server.Series.Write(ctx, pts); err != nil {
		b.Fatal(err)
	}
	bctx, cancel := testserver.Browser(b, exe, 10*time.Minute)
	defer cancel()
	if err := chromedp.Run(bctx, login(d.URL, "owner@pitwall.demo")); err != nil {
		b.Fatal(err)
	}
	page := d.URL + "/vehicles/" + d.OwnerVehicles[0]
	var chartsMS, pageMS, points float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var rendered, n string
		var ok bool
		t0 := time.Now()
		if err := chromedp.Run(bctx, chromedp.Navigate(page), chromedp.WaitVisible("#charts .uplot", chromedp.ByQuery),
			chromedp.AttributeValue("#charts", "data-rendered", &rendered, &ok, chromedp.ByID),
			chromedp.AttributeValue("#charts", "data-points", &n, &ok, chromedp.ByID)); err != nil {
			b.Fatal(err)
		}
		pageMS += float64(time.Since(t0).Milliseconds())
		ms, _ := strconv.ParseFloat(rendered, 64)
		chartsMS += ms
		points, _ = strconv.ParseFloat(n, 64)
	}
	b.ReportMetric(chartsMS/float64(b.N), "ms/charts")
	b.ReportMetric(pageMS/float64(b.N), "ms/page")
	b.ReportMetric(points, "points")
}

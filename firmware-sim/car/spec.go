package car

// Spec describes the vehicle being simulated.
type Spec struct {
	VIN          string
	Displacement float64   // litres
	Cylinders    int       // misfire codes name cylinders 1..n
	IdleRPM      float64   // warm idle
	MaxRPM       float64   // fuel cut
	GearRatios   []float64 // first gear first
	FinalDrive   float64
	WheelCirc    float64 // metres per wheel turn
	TankLitres   float64
	Thermostat   float64 // °C where the thermostat opens
	Ambient      float64 // °C outside
	Baro         float64 // kPa
	Odometer     float64 // km at the start
	// BatteryAh is the battery's capacity; the resting voltage follows its
	// state of charge.
	BatteryAh float64
}

// DefaultSpec is a 1.6 litre four-cylinder petrol hatchback with a
// six-speed gearbox.
func DefaultSpec() Spec {
	return Spec{
		VIN:          "1G1JC5444R7252367",
		Displacement: 1.6,
		Cylinders:    4,
		IdleRPM:      750,
		MaxRPM:       6500,
		GearRatios:   []float64{3.58, 2.02, 1.35, 1.03, 0.81, 0.66},
		FinalDrive:   4.06,
		WheelCirc:    1.95,
		TankLitres:   50,
		Thermostat:   90,
		Ambient:      18,
		Baro:         101,
		Odometer:     48213.4,
		BatteryAh:    60,
	}
}

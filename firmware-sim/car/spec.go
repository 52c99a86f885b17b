package car

// Powertrain says what stops the combustion engine besides the key.
type Powertrain string

// The powertrains the model knows.
const (
	// Combustion: the engine runs whenever the ignition is on.
	Combustion Powertrain = "combustion"
	// StopStart: the engine stops while the car stands (once warmed up
	// and with the battery charged) and the starter restarts it when the
	// driver pulls away.
	StopStart Powertrain = "stop-start"
	// Hybrid: the engine stops when the car stands or rolls gently below
	// 50 km/h, the car drives on electricity meanwhile, and the
	// motor-generator starts the engine again for acceleration or speed.
	Hybrid Powertrain = "hybrid"
)

// Powertrains lists them, for validation and help.
var Powertrains = []Powertrain{Combustion, StopStart, Hybrid}

// Spec describes the vehicle being simulated.
type Spec struct {
	VIN          string
	Powertrain   Powertrain
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
		Powertrain:   Combustion,
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

// VINFor makes a valid North American VIN for simulated car n: the same n
// always gives the same VIN.
func VINFor(n uint64) string {
	const chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
	b := []byte("1PW" + "SMCKA" + "0" + "L" + "W") // maker, model (position 7 a letter: the 2010s cycle), check digit, year (L: 2020), plant
	x := n
	for i := 0; i < 6; i++ {
		b = append(b, "0123456789"[x%10])
		x /= 10
	}
	b[3] = chars[(n/7)%uint64(len(chars))]
	weights := [17]int{8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2}
	value := func(c byte) int {
		switch {
		case c >= '0' && c <= '9':
			return int(c - '0')
		case c >= 'A' && c <= 'H':
			return int(c-'A') + 1
		case c >= 'J' && c <= 'N':
			return int(c-'J') + 1
		case c == 'P':
			return 7
		case c == 'R':
			return 9
		default:
			return int(c-'S') + 2
		}
	}
	sum := 0
	for i, c := range b {
		sum += value(c) * weights[i]
	}
	if r := sum % 11; r == 10 {
		b[8] = 'X'
	} else {
		b[8] = byte('0' + r)
	}
	return string(b)
}

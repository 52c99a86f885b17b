package booking

import "errors"

// Errors of photos a shop uploads (the others of the package are beside
// what they guard: ErrInvalid, ErrIllegal, ErrNotYours, ErrNoShop).
var (
	// ErrPhotoType is an upload that is not a JPEG or PNG image, whatever
	// its name says.
	ErrPhotoType = errors.New("booking: not a JPEG or PNG photo")
	// ErrPhotoTooLarge is a photo over MaxPhotoBytes.
	ErrPhotoTooLarge = errors.New("booking: photo too large")
)

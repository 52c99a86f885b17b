package booking

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
)

// Photo limits: what a shop may upload with a progress step.
const (
	// MaxPhotoBytes bounds one uploaded photo: 8 MiB.
	MaxPhotoBytes = 8 << 20
	// MaxPhotoPixels bounds its size in pixels (30 megapixels, 6,700 ×
	// 4,500 say): decoding takes about 4 bytes a pixel.
	MaxPhotoPixels = 30_000_000
	// MaxPhotosPerStep is how many photos one step carries.
	MaxPhotosPerStep = 6
)

// photoWork bounds the photos decoded at once: each may take a hundred
// megabytes while it is re-encoded.
var photoWork = make(chan struct{}, 2)

// CleanPhoto checks an uploaded photo and re-encodes it: JPEG or PNG by
// its content (not its name), at most MaxPhotoBytes and MaxPhotoPixels.
// Decoding and encoding again keeps the pixels only: EXIF (GPS position,
// camera, time), XMP, comments and any bytes hidden after the image are
// gone. A JPEG's EXIF orientation is applied first, so the photo stands
// as it was taken. field names the photo in errors ("photos[1]").
func CleanPhoto(raw []byte, field string) (ct string, width, height int, data []byte, err error) {
	switch {
	case len(raw) > MaxPhotoBytes:
		return "", 0, 0, nil, fmt.Errorf("%w: %s: %d bytes, at most %d (8 MiB)", ErrPhotoTooLarge, field, len(raw), MaxPhotoBytes)
	case bytes.HasPrefix(raw, []byte{0xFF, 0xD8, 0xFF}):
		ct = "image/jpeg"
	case bytes.HasPrefix(raw, []byte("\x89PNG\r\n\x1a\n")):
		ct = "image/png"
	default:
		return "", 0, 0, nil, fmt.Errorf("%w: %s: send a JPEG or PNG photo", ErrPhotoType, field)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return "", 0, 0, nil, invalid(field, "not a readable %s: %v", ct, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPhotoPixels {
		return "", 0, 0, nil, invalid(field, "%d×%d pixels, at most %d megapixels; send a smaller photo", cfg.Width, cfg.Height, MaxPhotoPixels/1_000_000)
	}
	photoWork <- struct{}{}
	defer func() { <-photoWork }()
	var img image.Image
	if ct == "image/jpeg" {
		img, err = jpeg.Decode(bytes.NewReader(raw))
	} else {
		img, err = png.Decode(bytes.NewReader(raw))
	}
	if err != nil {
		return "", 0, 0, nil, invalid(field, "not a readable %s: %v", ct, err)
	}
	if ct == "image/jpeg" {
		img = orient(img, Orientation(raw))
	}
	var out bytes.Buffer
	if ct == "image/jpeg" {
		err = jpeg.Encode(&out, img, &jpeg.Options{Quality: 85})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&out, img)
	}
	if err != nil {
		return "", 0, 0, nil, fmt.Errorf("booking: %s: re-encoding: %w", field, err)
	}
	b := img.Bounds()
	return ct, b.Dx(), b.Dy(), out.Bytes(), nil
}

// Orientation reads the EXIF orientation (1–8) of a JPEG: 1, upright, when
// it has none or it cannot be read. Only the segments before the image
// data are looked at.
func Orientation(jpg []byte) int {
	if len(jpg) < 4 || jpg[0] != 0xFF || jpg[1] != 0xD8 {
		return 1
	}
	for i := 2; i+4 <= len(jpg); {
		if jpg[i] != 0xFF {
			return 1
		}
		marker := jpg[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan, end of image: no more metadata
			return 1
		}
		n := int(binary.BigEndian.Uint16(jpg[i+2:]))
		if n < 2 || i+2+n > len(jpg) {
			return 1
		}
		seg := jpg[i+4 : i+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return exifOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

// exifOrientation finds tag 0x0112 in the first IFD of a TIFF structure.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 1
	}
	count := int(bo.Uint16(t[off:]))
	for k := 0; k < count; k++ {
		e := off + 2 + 12*k
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		if typ := bo.Uint16(t[e+2:]); typ != 3 || bo.Uint32(t[e+4:]) != 1 { // SHORT, one value
			return 1
		}
		if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// orient turns an image by its EXIF orientation so that it stands upright.
func orient(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	src := image.NewNRGBA(img.Bounds())
	draw.Draw(src, src.Bounds(), img, img.Bounds().Min, draw.Src)
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewNRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2: // mirrored
				dx, dy = w-1-x, y
			case 3: // upside down
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored upside down
				dx, dy = x, h-1-y
			case 5: // mirrored, turned a quarter anticlockwise
				dx, dy = y, x
			case 6: // turned a quarter anticlockwise: turn it clockwise
				dx, dy = h-1-y, x
			case 7: // mirrored, turned a quarter clockwise
				dx, dy = h-1-y, w-1-x
			case 8: // turned a quarter clockwise: turn it back
				dx, dy = y, w-1-x
			}
			si := src.PixOffset(x+src.Rect.Min.X, y+src.Rect.Min.Y)
			di := dst.PixOffset(dx, dy)
			copy(dst.Pix[di:di+4], src.Pix[si:si+4])
		}
	}
	return dst
}

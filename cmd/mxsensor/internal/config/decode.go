package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

var errUnknown = errors.New("unknown setting")

var (
	textType     = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType = reflect.TypeFor[time.Duration]()
)

// decodeHook turns the values of the file (YAML scalars and lists), of the
// environment and of the flags (text) into the struct's types: a type that
// parses itself gets the text of a scalar, or of a list joined with commas;
// a duration is text with a unit (a bare 0 is zero); a comma list fills a
// slice.
func decodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(textHook, durationHook, mapstructure.StringToWeakSliceHookFunc(","))
}

func textHook(from, to reflect.Type, data any) (any, error) {
	if !reflect.PointerTo(to).Implements(textType) {
		return data, nil
	}
	var s string
	switch from.Kind() {
	case reflect.Slice:
		rv := reflect.ValueOf(data)
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(rv.Index(i).Interface())
		}
		s = strings.Join(parts, ",")
	case reflect.Map, reflect.Struct:
		return data, nil
	default:
		s = fmt.Sprint(data)
	}
	p := reflect.New(to)
	if err := p.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
		return nil, err
	}
	return p.Elem().Interface(), nil
}

func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64:
		return time.ParseDuration(strings.TrimSpace(fmt.Sprint(data)))
	}
	return data, nil
}

func newDecoder(out any, md *mapstructure.Metadata) (*mapstructure.Decoder, error) {
	return mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result: out, Metadata: md, WeaklyTypedInput: true, DecodeHook: decodeHook(),
	})
}

// decodeOne decodes key's value alone into a new struct of out's type:
// errUnknown when the struct has no such key.
func decodeOne(out any, key string, val any) error {
	if _, ok := val.(map[string]any); ok {
		return errors.New("want a value, got a mapping")
	}
	var md mapstructure.Metadata
	dec, err := newDecoder(reflect.New(reflect.TypeOf(out).Elem()).Interface(), &md)
	if err != nil {
		return err
	}
	err = dec.Decode(map[string]any{key: val})
	if len(md.Unused) > 0 {
		return errUnknown
	}
	return explain(err, false)
}

// explain rewrites mapstructure's errors to name the value and what was
// wanted ("fast" is not a number), and with names the key.
func explain(err error, names bool) error {
	if err == nil {
		return nil
	}
	var msgs []string
	var walk func(err error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var de *mapstructure.DecodeError
		if !errors.As(err, &de) {
			msgs = append(msgs, err.Error())
			return
		}
		inner := de.Unwrap()
		for {
			var next *mapstructure.DecodeError
			if !errors.As(inner, &next) || next == inner {
				break
			}
			inner = next.Unwrap()
		}
		msg := inner.Error()
		var pe *mapstructure.ParseError
		var ue *mapstructure.UnconvertibleTypeError
		switch {
		case errors.As(inner, &pe):
			msg = fmt.Sprintf("%s is not %s", quote(pe.Value), want(pe.Expected.Type()))
		case errors.As(inner, &ue):
			msg = fmt.Sprintf("%s is not %s", quote(ue.Value), want(ue.Expected.Type()))
		}
		if names {
			msg = de.Name() + ": " + msg
		}
		msgs = append(msgs, msg)
	}
	walk(err)
	return errors.New(strings.Join(msgs, "; "))
}

func quote(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%v", v)
}

// want names what a type takes.
func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<(t.Bits())-1)
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	}
	return "a " + t.String()
}

// fields maps the setting names of the struct out points to to its
// fields, through embedded structs tagged ",squash".
func fields(out any) map[string]reflect.Value {
	m := map[string]reflect.Value{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			tag := v.Type().Field(i).Tag.Get("mapstructure")
			name, opts, _ := strings.Cut(tag, ",")
			if opts == "squash" {
				walk(v.Field(i))
				continue
			}
			if name != "" && name != "-" {
				m[name] = v.Field(i)
			}
		}
	}
	walk(reflect.ValueOf(out).Elem())
	return m
}

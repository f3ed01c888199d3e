package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// jsonErrorPath names the field of a decoding error. encoding/json leaves
// map keys (setup and provider names) out of UnmarshalTypeError.Field and
// names no path for an unknown field, so the document is walked alongside
// the Org type to find the first value that doesn't fit, in document order
// as encoding/json reports it.
func jsonErrorPath(data []byte, err error) string {
	var te *json.UnmarshalTypeError
	isType := errors.As(err, &te)
	if !isType && !strings.HasPrefix(err.Error(), "json: unknown field ") {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if path, bad := misfit(dec, reflect.TypeFor[Org](), ""); bad && path != "" {
		return path
	}
	if isType {
		return te.Field
	}
	return ""
}

// misfit reads one value from dec and reports the path of the first part of
// it that t can't hold: an unknown struct field or a value of the wrong kind.
func misfit(dec *json.Decoder, t reflect.Type, path string) (string, bool) {
	tok, err := dec.Token()
	if err != nil {
		return path, true
	}
	if tok == nil {
		return "", false // null fits everything
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	join := func(key string) string {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		if tok != json.Delim('{') {
			return path, true
		}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return path, true
			}
			key, _ := kt.(string)
			var vt reflect.Type
			if t.Kind() == reflect.Map {
				vt = t.Elem()
			} else if f, ok := structField(t, key); ok {
				vt = f.Type
			} else {
				return join(key), true
			}
			if p, bad := misfit(dec, vt, join(key)); bad {
				return p, true
			}
		}
		if _, err := dec.Token(); err != nil { // '}'
			return path, true
		}
		return "", false
	case reflect.Slice:
		if tok != json.Delim('[') {
			return path, true
		}
		for i := 0; dec.More(); i++ {
			if p, bad := misfit(dec, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); bad {
				return p, true
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return path, true
		}
		return "", false
	case reflect.String:
		_, ok := tok.(string)
		return path, !ok
	case reflect.Bool:
		_, ok := tok.(bool)
		return path, !ok
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if ok {
			_, err := n.Int64()
			ok = err == nil
		}
		return path, !ok
	}
	return "", false
}

// structField finds the field that a JSON key decodes into; like
// encoding/json, it matches the key case-insensitively.
func structField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if f.IsExported() && name != "-" && strings.EqualFold(name, key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

package rpc

import (
	"encoding/json"
	"reflect"
)

// decodeResult decodes a call's result (a reply the reader already validated) into result as
// json.Unmarshal does. A flat struct starting at its zero value — what a typed call hands in — goes
// through the params' fast decoder (decodeParamsFast: no reflection per field access and no second
// validation pass); what that declines, and anything else, goes to json.Unmarshal.
func decodeResult(b []byte, result any) error {
	if v := reflect.ValueOf(result); v.Kind() == reflect.Pointer && !v.IsNil() {
		if e := v.Elem(); e.Kind() == reflect.Struct && e.IsZero() {
			if decodeParamsFast(b, e, planOf(e.Type())) {
				return nil
			}
			e.SetZero()
		}
	}
	return json.Unmarshal(b, result)
}

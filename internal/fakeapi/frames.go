package fakeapi

import (
	"encoding/json"
	"strconv"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// ListFrame is the body of a LIST answer holding items at resourceVersion rv.
func ListFrame(rv int, items ...*discoveryv1.EndpointSlice) string {
	list := discoveryv1.EndpointSliceList{
		TypeMeta: metav1.TypeMeta{Kind: "EndpointSliceList", APIVersion: "discovery.k8s.io/v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.Itoa(rv)},
	}
	for _, s := range items {
		list.Items = append(list.Items, *s)
	}
	return mustJSON(list)
}

// EventFrame is the watch event of type typ ("ADDED", "MODIFIED", "DELETED") for s,
// which it sends at resourceVersion rv, with its kind and apiVersion set as the API
// server sets them.
func EventFrame(typ watch.EventType, rv int, s *discoveryv1.EndpointSlice) string {
	s = s.DeepCopy()
	s.Kind, s.APIVersion, s.ResourceVersion = "EndpointSlice", "discovery.k8s.io/v1", strconv.Itoa(rv)
	return mustJSON(map[string]any{"type": typ, "object": s})
}

// mustJSON encodes v, which holds only API types: their encoding does not fail.
func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic("fakeapi: encoding an API object: " + err.Error())
	}
	return string(data)
}

package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tenurehq/tenure/recommend"
)

// Recommendations from peers (docs/recommendations.md): GET
// /recommendations analyses a snapshot on demand and changes nothing.

// Recommendations is the answer of GET /recommendations. The report is
// recommend's own type, not the engine's stored state, so the API owns it
// as it is.
type Recommendations = recommend.Report

// RecommendQuery tunes an analysis (zero values take the defaults).
type RecommendQuery = recommend.Options

// RecommendAttribute is a position attribute people are grouped by;
// RecommendCondition one attribute value of a peer group.
type (
	RecommendAttribute = recommend.Attribute
	RecommendCondition = recommend.Condition
)

// The query parameters of GET /recommendations, one per RecommendQuery
// field; target and attribute repeat. An attribute is a path (title) or
// name=CEL expression.
const (
	qTarget         = "target"
	qAttribute      = "attribute"
	qMinGroup       = "min-group"
	qMinSupport     = "min-support"
	qMinConfidence  = "min-confidence"
	qSignificance   = "significance"
	qOutlierShare   = "outlier-share"
	qNoPairs        = "no-pairs"
	qIncludeGranted = "include-granted"
	qMaxListed      = "max-listed"
)

// recommendRoutes adds the recommendation endpoints.
func (h *Handler) recommendRoutes(get func(string, endpoint)) {
	get("/recommendations", h.recommendations)
}

// GET /recommendations?target=&attribute=&min-support=…
func (h *Handler) recommendations(r *http.Request) (any, error) {
	q, err := ParseRecommendQuery(r.URL.Query())
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	return h.Recommend(r.Context(), q)
}

// Recommend is GET /recommendations: birthright suggestions and outliers
// from a snapshot read now. It writes nothing.
func (h *Handler) Recommend(ctx context.Context, q RecommendQuery) (*Recommendations, error) {
	rep, err := recommend.NewGatherer(h.eng, h.log).Run(ctx, q, h.now())
	switch {
	case errors.Is(err, recommend.ErrNoTarget):
		return nil, errorf(http.StatusNotFound, "%v", err)
	case errors.Is(err, recommend.ErrInvalid):
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	return rep, err
}

// Recommend is GET /recommendations.
func (c *Client) Recommend(ctx context.Context, q RecommendQuery) (*Recommendations, error) {
	return get[Recommendations](ctx, c, "/recommendations", RecommendValues(q))
}

// RecommendValues is q as GET /recommendations's query parameters.
func RecommendValues(q RecommendQuery) url.Values {
	v := url.Values{}
	if len(q.Targets) > 0 {
		v[qTarget] = q.Targets
	}
	for _, a := range q.Attributes {
		if a.Expr == "" {
			v.Add(qAttribute, a.Name)
		} else {
			v.Add(qAttribute, a.Name+"="+a.Expr)
		}
	}
	setNum := func(k string, n float64) {
		if n != 0 {
			v.Set(k, strconv.FormatFloat(n, 'g', -1, 64))
		}
	}
	setNum(qMinGroup, float64(q.MinGroupSize))
	setNum(qMinSupport, float64(q.MinSupport))
	setNum(qMinConfidence, q.MinConfidence)
	setNum(qSignificance, q.Significance)
	setNum(qOutlierShare, q.OutlierShare)
	setNum(qMaxListed, float64(q.MaxListed))
	if q.NoPairs {
		v.Set(qNoPairs, "true")
	}
	if q.IncludeGranted {
		v.Set(qIncludeGranted, "true")
	}
	return v
}

// ParseRecommendQuery reads GET /recommendations's query parameters;
// every malformed one is reported.
func ParseRecommendQuery(v url.Values) (RecommendQuery, error) {
	q := RecommendQuery{Targets: v[qTarget]}
	for _, a := range v[qAttribute] {
		name, expr, _ := strings.Cut(a, "=")
		q.Attributes = append(q.Attributes, recommend.Attribute{Name: strings.TrimSpace(name), Expr: strings.TrimSpace(expr)})
	}
	var errs []error
	num := func(k string, min, max float64) float64 {
		s := v.Get(k)
		if s == "" {
			return 0
		}
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n < min || n > max {
			errs = append(errs, fmt.Errorf("%s must be a number from %g to %g, got %q", k, min, max, s))
			return 0
		}
		return n
	}
	whole := func(k string) int {
		n := num(k, 1, 1e9)
		if n != float64(int(n)) {
			errs = append(errs, fmt.Errorf("%s must be a whole number, got %q", k, v.Get(k)))
		}
		return int(n)
	}
	flag := func(k string) bool {
		s := v.Get(k)
		b, err := strconv.ParseBool(s)
		if s != "" && err != nil {
			errs = append(errs, fmt.Errorf("%s must be true or false, got %q", k, s))
		}
		return b
	}
	q.MinGroupSize = whole(qMinGroup)
	q.MinSupport = whole(qMinSupport)
	q.MaxListed = whole(qMaxListed)
	q.MinConfidence = num(qMinConfidence, 0, 1)
	q.Significance = num(qSignificance, 0, 1)
	q.OutlierShare = num(qOutlierShare, -1, 1)
	q.NoPairs = flag(qNoPairs)
	q.IncludeGranted = flag(qIncludeGranted)
	return q, errors.Join(errs...)
}

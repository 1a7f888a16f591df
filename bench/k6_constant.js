// bench_harness's k6 reference: one constant, pre-serialised event body posted as fast as the
// mock answers, the body and headers bare_locustfile.py posts (written by bench_harness).
import http from "k6/http";

const body = open(__ENV.LOADSIM_BODY_FILE);
const headers = JSON.parse(open(__ENV.LOADSIM_HEADERS_FILE));
const url = __ENV.LOADSIM_URL;

export const options = {
  vus: Number(__ENV.LOADSIM_VUS),
  duration: __ENV.LOADSIM_DURATION,
  summaryTrendStats: ["avg", "p(95)"],
};

export default function () {
  http.post(url, body, { headers: headers });
}

/**
 * @module api/context
 * The driver a route calls for one request: `ShimDriver.forRequest`, so that its log lines
 * and its peer calls carry the request's `X-OpenStack-Request-ID`. Shared by every router.
 */
import type { Response } from 'express';
import type { ShimDriver } from '../driver';

export type DriverOf = (res: Response) => ShimDriver;

export function requestDriver(driver: ShimDriver): DriverOf {
  return (res) => driver.forRequest(String(res.locals.requestId ?? ''));
}

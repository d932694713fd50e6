/**
 * @module api/context
 * The driver a route calls for one request: `forRequest` of the driver the API was given, so
 * that its log lines and its peer calls carry the request's `X-OpenStack-Request-ID`. Shared
 * by every router. Typed by the driver's interfaces (driver/services), not by its class.
 */
import type { Response } from 'express';
import type { RequestDrivers, ServedDriver } from '../driver/services';

export type DriverOf = (res: Response) => ServedDriver;

export function requestDriver(driver: RequestDrivers): DriverOf {
  return (res) => driver.forRequest(String(res.locals.requestId ?? ''));
}

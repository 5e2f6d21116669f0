import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";
import { forgetSignedIn } from "../auth/AuthContext";

afterEach(() => {
  cleanup();
  sessionStorage.clear();
  forgetSignedIn();
});

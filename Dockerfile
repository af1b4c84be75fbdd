# One image with every hotel-ops binary; docker-compose.yml picks the command.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/ ./exporters/... ./webhook/escalator
# escalator's embedded store lives here. A named volume mounted on it starts
# with this owner, so escalator (nonroot) can write its file.
RUN mkdir -p /state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
COPY --from=build --chown=nonroot:nonroot /state /var/lib/escalator
USER nonroot
